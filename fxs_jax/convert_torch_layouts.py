"""Which key of a PyTorch GANimation state_dict is which fxs_jax param, for both layouts
(``official``, ``replicate``) that ``fxs_jax.convert_torch`` reads (its docstring describes them):
the layout detected from the names, the sizes checked against the config, the kernels
transposed."""

from __future__ import annotations

import re

import numpy as np

from fxs_jax.errors import UserError

# Parameter-name prefixes: (generator trunk, colour head, attention head, critic trunk, critic
# map head, critic AU head), and the name of a residual block's Sequential.
NAMES = {"official": ("main", "img_reg.0", "attetion_reg.0", "main", "conv1", "conv2", "main"),
         "replicate": ("model", "color_top.0", "au_top.0", "model", "dis_top", "aus_top",
                       "conv_block")}
GENERATOR_HEADS = ("img_reg.", "attetion_reg.", "color_top.", "au_top.")
CRITIC_HEADS = ("conv1.", "conv2.", "dis_top.", "aus_top.")
NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def detect(state: dict, path, what: str) -> tuple[str, str]:
  """``(kind, layout)`` of a state_dict: kind ``"generator"`` or ``"critic"``, layout
  ``"official"`` or ``"replicate"``, from its parameter names."""
  keys = list(state)
  kind = ("generator" if any(k.startswith(GENERATOR_HEADS) for k in keys) else
          "critic" if any(k.startswith(CRITIC_HEADS) for k in keys) else None)
  official = sum(k.startswith(("main.", "img_reg.", "attetion_reg.", "conv1.", "conv2."))
                 for k in keys)
  replicate = sum(k.startswith(("model.", "color_top.", "au_top.", "dis_top.", "aus_top."))
                  for k in keys)
  if kind is None or official == replicate:
    raise UserError(
        f"The {what} file {path}: its keys ({few(keys)}) match neither GANimation layout: "
        "expected the official code's (main.0.weight, img_reg.0.weight / conv1.weight, ...) or "
        "ganimation_replicate's (model.0.weight, color_top.0.weight / dis_top.weight, ...).")
  return kind, "official" if official > replicate else "replicate"


def few(names, n: int = 4) -> str:
  names = sorted(names)
  return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _flag(field: str) -> str:
  return "--image_size" if field == "image_size" else f"--config.model.{field}"


def _check_field(config, field: str, found: int, evidence: str, where: str) -> None:
  """A size the file implies (``evidence`` says how) against the config's."""
  want = config.model[field]
  if found != want:
    raise UserError(f"{where}: {evidence}, i.e. model.{field}={found}, but the config has "
                    f"model.{field}={want}: convert with {_flag(field)}={found}.")


def _shape_evidence(state, key) -> str:
  return f"{key} has shape {tuple(state[key].shape)}"


def generator_plan(state, layout, config, path) -> dict[str, tuple]:
  """``{torch key: (fxs_jax param path or None, expected torch shape, kind)}``: kind "conv",
  "tconv", "vector" or "ignore" (shape-checked, not used); after checking the sizes."""
  m, where = config.model, f"The generator file {path}"
  trunk, color, attention, _, _, _, body = NAMES[layout]
  for field, want, fix in (("upsample", "transpose", "transposed convs"),
                           ("colour", "absolute", "an absolute (tanh) colour mask")):
    if m[field] != want:
      raise UserError(f"config.model.{field} is {m[field]!r}, but the PyTorch GANimation uses "
                      f"{fix}: convert with --config.model.{field}={want}.")
  stem = f"{trunk}.0.weight"
  if stem in state and state[stem].ndim == 4:
    evidence = _shape_evidence(state, stem) + " (out, 3 + AUs, 7, 7)"
    _check_field(config, "gen_base_channels", state[stem].shape[0], evidence, where)
    _check_field(config, "num_aus", state[stem].shape[1] - 3, evidence, where)
  blocks = sorted(int(k.split(".")[1]) for k in state
                  if re.fullmatch(rf"{trunk}\.\d+\.{body}\.0\.weight", k))
  if blocks:
    _check_field(config, "gen_num_res_blocks", len(blocks), f"it has {len(blocks)} residual "
                 f"blocks ({trunk}.{blocks[0]} to {trunk}.{blocks[-1]})", where)
  c, a, res = m.gen_base_channels, m.num_aus, m.gen_num_res_blocks
  # Official: affine norms, bias-free convs. Replicate: non-affine norms, biased convs.
  norm_params = layout == "official"
  plan = {}

  def conv(prefix, ours, cin, cout, k, kind="conv"):
    weight = (cout, cin, k, k) if kind == "conv" else (cin, cout, k, k)
    plan[f"{prefix}.weight"] = (f"{ours}/kernel", weight, kind)
    if not norm_params and ours not in ("color_head/conv", "attention_head/conv"):
      plan[f"{prefix}.bias"] = (None, (cout,), "ignore")  # cancelled by the InstanceNorm after

  def norm(prefix, ours, channels):
    if norm_params:
      plan[f"{prefix}.weight"] = (f"{ours}/scale", (channels,), "vector")
      plan[f"{prefix}.bias"] = (f"{ours}/bias", (channels,), "vector")

  conv(f"{trunk}.0", "stem/conv", 3 + a, c, 7)
  norm(f"{trunk}.1", "stem/norm", c)
  for k, (cin, cout) in enumerate(((c, 2 * c), (2 * c, 4 * c))):
    conv(f"{trunk}.{3 + 3 * k}", f"down/{k}/conv", cin, cout, 4)
    norm(f"{trunk}.{4 + 3 * k}", f"down/{k}/norm", cout)
  # The replicate's --use_dropout puts a Dropout (no parameters) before a block's second conv.
  second = 4 if layout == "replicate" and f"{trunk}.9.{body}.4.weight" in state else 3
  for i in range(res):
    block, ours = f"{trunk}.{9 + i}.{body}", f"bottleneck/{i}"
    conv(f"{block}.0", f"{ours}/conv_norm_relu/conv", 4 * c, 4 * c, 3)
    norm(f"{block}.1", f"{ours}/conv_norm_relu/norm", 4 * c)
    conv(f"{block}.{second}", f"{ours}/conv_norm/conv", 4 * c, 4 * c, 3)
    norm(f"{block}.{second + 1}", f"{ours}/conv_norm/norm", 4 * c)
  for k, (cin, cout) in enumerate(((4 * c, 2 * c), (2 * c, c))):
    conv(f"{trunk}.{9 + res + 3 * k}", f"up/{k}/conv", cin, cout, 4, kind="tconv")
    norm(f"{trunk}.{10 + res + 3 * k}", f"up/{k}/norm", cout)
  conv(color, "color_head/conv", c, 3, 7)
  conv(attention, "attention_head/conv", c, 1, 7)
  return plan


def critic_plan(state, layout, config, path) -> dict[str, tuple]:
  m, where = config.model, f"The critic file {path}"
  _, _, _, trunk, map_head, aus_head, _ = NAMES[layout]
  first = f"{trunk}.0.weight"
  if first in state and state[first].ndim == 4:
    _check_field(config, "critic_base_channels", state[first].shape[0],
                 _shape_evidence(state, first), where)
  layers = [k for k in state if re.fullmatch(rf"{trunk}\.\d+\.weight", k)]
  if layers:
    _check_field(config, "critic_num_layers", len(layers),
                 f"it has {len(layers)} stride-2 convs ({trunk}.N.weight)", where)
  aus_key = f"{aus_head}.weight"
  if aus_key in state and state[aus_key].ndim == 4:
    shape = state[aus_key].shape
    evidence = _shape_evidence(state, aus_key) + " (AUs, channels, k, k)"
    _check_field(config, "num_aus", shape[0], evidence, where)
    _check_field(config, "image_size", shape[-1] * 2 ** m.critic_num_layers,
                 f"{evidence}: its {shape[-1]}x{shape[-1]} kernel covers the map of "
                 f"{m.critic_num_layers} stride-2 layers", where)
  plan, cin, cout = {}, 3, m.critic_base_channels
  for k in range(m.critic_num_layers):
    plan[f"{trunk}.{2 * k}.weight"] = (f"patch/trunk/{k}/conv/kernel", (cout, cin, 4, 4), "conv")
    plan[f"{trunk}.{2 * k}.bias"] = (f"patch/trunk/{k}/conv/bias", (cout,), "vector")
    cin, cout = cout, 2 * cout
  final = m.image_size // 2 ** m.critic_num_layers
  plan[f"{map_head}.weight"] = ("patch/map_head/kernel", (1, cin, 3, 3), "conv")
  plan[aus_key] = ("patch/aus_head/kernel", (m.num_aus, cin, final, final), "conv")
  return plan


def apply_plan(state, plan, layout, kind, path) -> dict[str, np.ndarray]:
  """Checks names and shapes; returns ``{fxs_jax param path: array}``."""
  ignorable = lambda k: layout == "official" and kind == "generator" and k.endswith(NORM_BUFFERS)
  missing = [k for k in plan if k not in state]
  unexpected = [k for k in state if k not in plan and not ignorable(k)]
  if missing or unexpected:
    parts = [f"missing {few(missing)}" if missing else "",
             f"unexpected {few(unexpected)}" if unexpected else ""]
    fix = ("check --layout and the config's model sizes" if not (
        layout == "replicate" and any(k.endswith("running_mean") for k in unexpected)) else
           "its norms keep running statistics, as --norm=batch trains them, and fxs_jax's "
           "GANimation has instance norms (ganimation_replicate's default, --norm=instance)")
    raise UserError(f"The {kind} file {path} does not fit the {layout} GANimation {kind} of "
                    f"this config ({'; '.join(p for p in parts if p)}): {fix}.")
  params = {}
  for key, (ours, shape, how) in plan.items():
    value = np.asarray(state[key], np.float32)
    if value.shape != shape:
      raise UserError(f"The {kind} file {path}: {key} has shape {value.shape}, expected "
                      f"{shape} for this config's {kind}: check the config's model sizes.")
    if how == "conv":  # (out, in, kh, kw) -> (kh, kw, in, out)
      value = value.transpose(2, 3, 1, 0)
    elif how == "tconv":  # (in, out, kh, kw) -> (kh, kw, in, out)
      value = value.transpose(2, 3, 0, 1)
    if ours is not None:
      params[ours] = value
  return params


def norm_default(name: str, leaf) -> np.ndarray:
  """A non-affine InstanceNorm (the replicate's) as fxs_jax's affine one: scale 1, bias 0."""
  if name.endswith("/norm/scale"):
    return np.ones(leaf.shape, np.float32)
  if name.endswith("/norm/bias"):
    return np.zeros(leaf.shape, np.float32)
  raise ValueError(f"no converted value for {name}")
