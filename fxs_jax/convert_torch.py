"""Weights trained with the PyTorch GANimation code, as fxs_jax params (no torch needed).

  python -m fxs_jax.convert_torch --generator=net_epoch_30_id_G.pth [--critic=..._id_D.pth] \
      [--layout=auto] [--image_size=128] --out=exports/ganimation_torch
  # then: fxs_jax.load("exports/ganimation_torch").edit(face, emotion="happy")

Two layouts of ``torch.save(net.state_dict())`` files are read (``fxs_jax.eval.torch_checkpoint``:
a restricted unpickler, zip and pre-1.6 formats; a DataParallel ``module.`` prefix is removed):

* ``official`` (albertpumarola/GANimation, ``net_epoch_N_id_G.pth`` / ``_id_D.pth``): generator
  ``main.N`` (``main.9+i.main.{0,1,3,4}`` the residual blocks), heads ``img_reg.0`` and
  ``attetion_reg.0`` (sic); affine InstanceNorms, bias-free convs; PyTorch 0.3's unused
  InstanceNorm ``running_mean`` / ``running_var`` are ignored. Critic ``main.2k`` (with biases),
  ``conv1`` (real/fake map), ``conv2`` (AUs).
* ``replicate`` (donydchen/ganimation_replicate, ``N_net_gen.pth`` / ``N_net_dis.pth``):
  generator ``model.N`` (``model.9+i.conv_block.{0,3}``, ``.4`` with ``--use_dropout``), heads
  ``color_top.0`` and ``au_top.0``; critic ``model.2k``, ``dis_top``, ``aus_top``. Its generator
  convs carry biases and its InstanceNorms are not affine: fxs_jax's generator has neither, and
  the conversion is still exact: each such conv feeds an InstanceNorm, whose mean subtraction
  removes a per-channel bias (dropped), and a non-affine norm is scale 1, bias 0.

Both codebases' topology is ``fxs_jax.models.ganimation`` with ``model.upsample="transpose"`` and
``model.colour="absolute"``; the sizes come from the config and are checked against the file.
Kernels: conv ``(out, in, kh, kw)`` -> ``(kh, kw, in, out)``; transposed conv ``(in, out, kh,
kw)`` -> ``(kh, kw, in, out)`` (no flip: ``fxs_jax.nn.layers.ConvTranspose2d``).
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path
from typing import NamedTuple

import jax
import ml_collections
import numpy as np
from flax import nnx

from fxs_jax import inference
from fxs_jax.errors import UserError
from fxs_jax.eval import torch_checkpoint
from fxs_jax.train import state as state_lib
from fxs_jax.train.checkpoint import path_name

LAYOUTS = ("auto", "official", "replicate")
CRITIC_FILE = "critic_params.npz"
_REPO = Path(__file__).resolve().parents[1]
# Parameter-name prefixes: (generator trunk, colour head, attention head, critic trunk, critic
# map head, critic AU head), and the name of a residual block's Sequential.
_NAMES = {"official": ("main", "img_reg.0", "attetion_reg.0", "main", "conv1", "conv2", "main"),
          "replicate": ("model", "color_top.0", "au_top.0", "model", "dis_top", "aus_top",
                        "conv_block")}
_GENERATOR_HEADS = ("img_reg.", "attetion_reg.", "color_top.", "au_top.")
_CRITIC_HEADS = ("conv1.", "conv2.", "dis_top.", "aus_top.")
_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


class Converted(NamedTuple):
  """A converted checkpoint: ``model`` (a ``TrainedModel``: ``.edit``, ``.generator``),
  ``critic`` (the Flax critic, or None without a critic file), the layout read, and the export
  directory written (or None)."""
  model: inference.TrainedModel
  critic: nnx.Module | None
  layout: str
  out_dir: Path | None


def default_config(image_size: int = 128) -> ml_collections.ConfigDict:
  """``configs/ganimation.py``'s paper setting (the sizes both PyTorch codebases use) at
  ``image_size``."""
  if str(_REPO) not in sys.path:  # the model configs import `configs.common`
    sys.path.insert(1, str(_REPO))
  config = importlib.import_module("configs.ganimation").get_config()
  config.model.image_size = int(image_size)
  return config


def read_state_dict(path: str | os.PathLike, what: str) -> dict[str, np.ndarray]:
  """The tensors of a ``torch.save``d state_dict (or an ``.npz``), without a DataParallel
  ``module.`` prefix. ``what`` (``"generator"``) names the file in errors."""
  if not os.path.isfile(path):
    raise UserError(f"The {what} file {path} does not exist: give the path of a .pth "
                    "state_dict.")
  state = torch_checkpoint.read_state_dict(path)
  if state and all(k.startswith("module.") for k in state):
    state = {k[len("module."):]: v for k, v in state.items()}
  return state


def detect(state: dict, path, what: str) -> tuple[str, str]:
  """``(kind, layout)`` of a state_dict: kind ``"generator"`` or ``"critic"``, layout
  ``"official"`` or ``"replicate"``, from its parameter names."""
  keys = list(state)
  kind = ("generator" if any(k.startswith(_GENERATOR_HEADS) for k in keys) else
          "critic" if any(k.startswith(_CRITIC_HEADS) for k in keys) else None)
  official = sum(k.startswith(("main.", "img_reg.", "attetion_reg.", "conv1.", "conv2."))
                 for k in keys)
  replicate = sum(k.startswith(("model.", "color_top.", "au_top.", "dis_top.", "aus_top."))
                  for k in keys)
  if kind is None or official == replicate:
    raise UserError(
        f"The {what} file {path}: its keys ({_few(keys)}) match neither GANimation layout: "
        "expected the official code's (main.0.weight, img_reg.0.weight / conv1.weight, ...) or "
        "ganimation_replicate's (model.0.weight, color_top.0.weight / dis_top.weight, ...).")
  return kind, "official" if official > replicate else "replicate"


def _few(names, n: int = 4) -> str:
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


def _generator_plan(state, layout, config, path) -> dict[str, tuple]:
  """``{torch key: (fxs_jax param path or None, expected torch shape, kind)}``: kind "conv",
  "tconv", "vector" or "ignore" (shape-checked, not used); after checking the sizes."""
  m, where = config.model, f"The generator file {path}"
  trunk, color, attention, _, _, _, body = _NAMES[layout]
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


def _critic_plan(state, layout, config, path) -> dict[str, tuple]:
  m, where = config.model, f"The critic file {path}"
  _, _, _, trunk, map_head, aus_head, _ = _NAMES[layout]
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


def _apply_plan(state, plan, layout, kind, path) -> dict[str, np.ndarray]:
  """Checks names and shapes; returns ``{fxs_jax param path: array}``."""
  ignorable = lambda k: layout == "official" and kind == "generator" and k.endswith(_NORM_BUFFERS)
  missing = [k for k in plan if k not in state]
  unexpected = [k for k in state if k not in plan and not ignorable(k)]
  if missing or unexpected:
    parts = [f"missing {_few(missing)}" if missing else "",
             f"unexpected {_few(unexpected)}" if unexpected else ""]
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


def _fill(abstract, params: dict[str, np.ndarray], default=None):
  """``abstract`` (a tree of shapes) with its leaves from ``params`` by path (``params/`` and
  ``/value`` trimmed); leaves not given come from ``default(path, leaf)``."""
  paths_leaves, treedef = jax.tree_util.tree_flatten_with_path(abstract)
  leaves, used = [], set()
  for p, leaf in paths_leaves:
    name = path_name(p).removeprefix("params/").removesuffix("/value")
    if name in params:
      used.add(name)
      value = params[name]
    elif default is not None:
      value = default(name, leaf)
    else:
      raise ValueError(f"no converted value for {name}")
    assert value.shape == tuple(leaf.shape), (name, value.shape, leaf.shape)
    leaves.append(jax.numpy.asarray(value, leaf.dtype))
  if used != set(params):
    raise ValueError(f"converted values without a parameter: {sorted(set(params) - used)}")
  return jax.tree_util.tree_unflatten(treedef, leaves)


def _norm_default(name: str, leaf) -> np.ndarray:
  """A non-affine InstanceNorm (the replicate's) as fxs_jax's affine one: scale 1, bias 0."""
  if name.endswith("/norm/scale"):
    return np.ones(leaf.shape, np.float32)
  if name.endswith("/norm/bias"):
    return np.zeros(leaf.shape, np.float32)
  raise ValueError(f"no converted value for {name}")


def _read(path, what: str, layout: str) -> tuple[dict, str]:
  """The state_dict of the ``what`` (generator / critic) file, checked to be one, and its
  layout."""
  state = read_state_dict(path, what)
  kind, found_layout = detect(state, path, what)
  if kind != what:
    other = "--critic (critic_pth=)" if kind == "critic" else "--generator (generator_pth=)"
    raise UserError(f"The {what} file {path} holds a GANimation {kind} ({_few(state, 3)}), "
                    f"not a {what}: pass it as {other}.")
  if layout not in ("auto", found_layout):
    raise UserError(f"The {what} file {path} has the {found_layout} layout's names "
                    f"({_few(state, 3)}), not the {layout} one's: pass --layout={found_layout} "
                    "(or auto).")
  return state, found_layout


def convert_ganimation(generator_pth, critic_pth=None, layout: str = "auto",
                       config: ml_collections.ConfigDict | None = None,
                       out_dir: str | os.PathLike | None = None) -> Converted:
  """The PyTorch GANimation generator (and critic) in ``generator_pth`` (``critic_pth``) as
  fxs_jax params for ``config`` (default: ``default_config()``, the paper's 128 px sizes).

  ``layout``: ``"official"`` (albertpumarola/GANimation), ``"replicate"``
  (donydchen/ganimation_replicate) or ``"auto"`` (from the parameter names). With ``out_dir``,
  also writes an export that ``fxs_jax.load(out_dir)`` reads (the critic, if given, beside it
  in ``critic_params.npz``). Raises ``UserError`` naming the key and the fix when a file does
  not fit.
  """
  config = default_config() if config is None else config
  if config.model_name != "ganimation":
    raise UserError("convert_ganimation needs a GANimation config, got model "
                    f"{config.model_name!r}.")
  if layout not in LAYOUTS:
    raise UserError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}.")
  out = Path(out_dir).expanduser() if out_dir is not None else None
  if out is not None and out.exists() and any(out.iterdir()):
    raise UserError(f"{out} exists and is not empty: convert into a new directory.")
  recipe = inference.recipe_for(config)
  state, found = _read(generator_pth, "generator", layout)
  params = _apply_plan(state, _generator_plan(state, found, config, generator_pth), found,
                       "generator", generator_pth)
  graphdef, abstract = inference.abstract_generator(recipe)
  item = _fill(abstract, params, None if found == "official" else _norm_default)
  model = inference.from_state(recipe, graphdef, item["params"], item["rest"], 0,
                               source=str(generator_pth))
  critic = critic_params = None
  if critic_pth is not None:
    critic_state, critic_layout = _read(critic_pth, "critic", layout)
    critic_params = _apply_plan(
        critic_state, _critic_plan(critic_state, critic_layout, config, critic_pth),
        critic_layout, "critic", critic_pth)
    critic_graphdef, abstract_params, rest = state_lib.split(
        nnx.eval_shape(lambda: recipe.build_critic(nnx.Rngs(config.seed))))
    critic = nnx.merge(critic_graphdef, _fill(abstract_params, critic_params), _fill(rest, {}))
  if out is not None:
    _write(out, model, critic, found, generator_pth, critic_pth)
  return Converted(model, critic, found, out)


def _write(out: Path, model, critic, layout: str, generator_pth, critic_pth) -> None:
  """The directory ``fxs_jax.inference.export`` writes (params.npz, config.json, manifest), the
  critic's params beside it."""
  extra = {"critic_params": CRITIC_FILE} if critic is not None else {}
  inference.write_export(
      model, out, exported_from=str(Path(generator_pth).absolute()),
      converted_from={"layout": layout, "generator": str(Path(generator_pth).absolute()),
                      "critic": critic_pth and str(Path(critic_pth).absolute())}, **extra)
  if critic is not None:
    _, critic_params, _ = state_lib.split(critic)
    np.savez(out / CRITIC_FILE, **{path_name(p): np.asarray(leaf) for p, leaf in
                                   jax.tree_util.tree_flatten_with_path(critic_params)[0]})


def _main(argv):
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top
  flags = _FLAGS
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not flags["verbosity"].present:  # JAX's backend notices would bury the one result line
    logging.set_verbosity(logging.ERROR)
  try:
    config = flags.config
    if flags.image_size is not None:
      config.model.image_size = flags.image_size
    result = convert_ganimation(flags.generator, flags.critic, flags.layout, config, flags.out)
  except UserError as e:
    sys.exit(f"error: {e}")
  print(f"Converted the {result.layout} GANimation checkpoint into {result.out_dir} "
        f"(load it with fxs_jax.load({str(result.out_dir)!r})).")


if __name__ == "__main__":
  # Flags are defined only when run as a script: fxs_jax.main defines --config too.
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags as absl_flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  sys.path.insert(1, str(_REPO))
  config_flags.DEFINE_config_file("config", str(_REPO / "configs" / "ganimation.py"),
                                  "GANimation config whose sizes the checkpoint has (default: "
                                  "the paper's, as both PyTorch codebases).", lock_config=True)
  absl_flags.DEFINE_string("generator", None, "The generator's .pth (net_epoch_N_id_G.pth or "
                           "N_net_gen.pth).")
  absl_flags.DEFINE_string("critic", None, "Optional: the critic's .pth (..._id_D.pth or "
                           "N_net_dis.pth).")
  absl_flags.DEFINE_enum("layout", "auto", LAYOUTS, "Which PyTorch codebase wrote the files.")
  absl_flags.DEFINE_integer("image_size", None, "Image size (default: the config's, 128).")
  absl_flags.DEFINE_string("out", None, "New directory for the export.")
  absl_flags.mark_flags_as_required(["generator", "out"])
  _FLAGS = absl_flags.FLAGS
  app.run(_main)
