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

``--image_size`` is 32-256 px (an edit chunk of 16 faces peaks at 2.9 GB at 256 px), a multiple
of 4, and with ``--critic`` of 2 ** critic_num_layers; ``--out`` is checked before any file is
read, and the export is written into a temporary folder beside it, then renamed: it is complete
or absent.

Both codebases' topology is ``fxs_jax.models.ganimation`` with ``model.upsample="transpose"`` and
``model.colour="absolute"``; the sizes come from the config and are checked against the file. The
config is ``configs/ganimation.py``'s paper setting as shipped in the package
(``fxs_jax.config_upgrade.shipped_config``), so a plain install converts; ``--config=FILE`` reads
another config file (its folder's parent is importable, for ``from configs import common``).
Kernels: conv ``(out, in, kh, kw)`` -> ``(kh, kw, in, out)``; transposed conv ``(in, out, kh,
kw)`` -> ``(kh, kw, in, out)`` (no flip: ``fxs_jax.nn.layers.ConvTranspose2d``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NamedTuple

import jax
import ml_collections
import numpy as np
from flax import nnx

from fxs_jax import config_upgrade
from fxs_jax import convert_torch_layouts as layouts
from fxs_jax import errors
from fxs_jax import inference
from fxs_jax.errors import check_output_path
from fxs_jax.errors import UserError
from fxs_jax.eval import torch_checkpoint
from fxs_jax.train import state as state_lib
from fxs_jax.train.checkpoint import path_name

LAYOUTS = ("auto", "official", "replicate")
CRITIC_FILE = "critic_params.npz"


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
  ``image_size``, as shipped in the package."""
  config = config_upgrade.shipped_config("ganimation")
  config.model.image_size = check_image_size(image_size, "image_size")
  config.lock()
  return config


def get_config() -> ml_collections.ConfigDict:
  """The default of ``--config``: :func:`default_config` (this file is its config file)."""
  return default_config()


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


def _read(path, what: str, layout: str) -> tuple[dict, str]:
  """The state_dict of the ``what`` (generator / critic) file, checked to be one, and its
  layout."""
  state = read_state_dict(path, what)
  kind, found_layout = layouts.detect(state, path, what)
  if kind != what:
    other = "--critic (critic_pth=)" if kind == "critic" else "--generator (generator_pth=)"
    raise UserError(f"The {what} file {path} holds a GANimation {kind} "
                    f"({layouts.few(state, 3)}), not a {what}: pass it as {other}.")
  if layout not in ("auto", found_layout):
    raise UserError(f"The {what} file {path} has the {found_layout} layout's names "
                    f"({layouts.few(state, 3)}), not the {layout} one's: pass "
                    f"--layout={found_layout} (or auto).")
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
  check_image_size(config.model.image_size, "config.model.image_size",
                   config.model.critic_num_layers if critic_pth is not None else None)
  out = Path(out_dir).expanduser() if out_dir is not None else None
  if out is not None:
    check_output_path(out, folder=True)
    if out.is_dir() and any(out.iterdir()):
      raise UserError(f"{out} exists and is not empty: convert into a new directory.")
  recipe = inference.recipe_for(config)
  state, found = _read(generator_pth, "generator", layout)
  params = layouts.apply_plan(state, layouts.generator_plan(state, found, config, generator_pth),
                              found, "generator", generator_pth)
  graphdef, abstract = inference.abstract_generator(recipe)
  item = _fill(abstract, params, None if found == "official" else layouts.norm_default)
  model = inference.from_state(recipe, graphdef, item["params"], item["rest"], 0,
                               source=str(generator_pth))
  critic = critic_params = None
  if critic_pth is not None:
    critic_state, critic_layout = _read(critic_pth, "critic", layout)
    critic_params = layouts.apply_plan(
        critic_state, layouts.critic_plan(critic_state, critic_layout, config, critic_pth),
        critic_layout, "critic", critic_pth)
    critic_graphdef, abstract_params, rest = state_lib.split(
        nnx.eval_shape(lambda: recipe.build_critic(nnx.Rngs(config.seed))))
    critic = nnx.merge(critic_graphdef, _fill(abstract_params, critic_params), _fill(rest, {}))
  if out is not None:
    _write(out, model, critic, found, generator_pth, critic_pth)
  return Converted(model, critic, found, out)


def check_image_size(size, what: str = "--image_size", critic_layers: int | None = None) -> int:
  """``size`` as an int in [:data:`~fxs_jax.errors.MIN_IMAGE_SIZE`,
  :data:`~fxs_jax.errors.MAX_IMAGE_SIZE`] (larger edits outgrow memory) that the networks
  allow: a multiple of 4 (the generator's two stride-2 steps) and, with a critic of
  ``critic_layers`` stride-2 layers, of 2 ** critic_layers; else a one-line error."""
  size = errors.check_number(size, what, low=errors.MIN_IMAGE_SIZE, high=errors.MAX_IMAGE_SIZE,
                             integer=True, meaning="the face crops' side in pixels",
                             fix=f"both PyTorch GANimations use 128; pass e.g. {what}=128")
  step = 4 if critic_layers is None else max(4, 2 ** critic_layers)
  if size % step:
    why = ("the generator's two stride-2 steps" if critic_layers is None else
           f"the critic's {critic_layers} stride-2 layers")
    raise UserError(f"{what}={size}: the crops' side must be a multiple of {step} ({why}); "
                    f"pass e.g. {what}={max(step, size // step * step)}.")
  return size


def _write(out: Path, model, critic, layout: str, generator_pth, critic_pth) -> None:
  """The directory ``fxs_jax.inference.export`` writes (params.npz, config.json, manifest), the
  critic's params beside it: written into a temporary folder beside ``out``, then renamed to
  ``out``, so that ``out`` is complete or absent (a one-line error when it cannot be written)."""
  extra = {"critic_params": CRITIC_FILE} if critic is not None else {}
  tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
  try:
    out.parent.mkdir(parents=True, exist_ok=True)
    inference.write_export(
        model, tmp, exported_from=str(Path(generator_pth).absolute()),
        converted_from={"layout": layout, "generator": str(Path(generator_pth).absolute()),
                        "critic": critic_pth and str(Path(critic_pth).absolute())}, **extra)
    if critic is not None:
      _, critic_params, _ = state_lib.split(critic)
      np.savez(tmp / CRITIC_FILE, **{path_name(p): np.asarray(leaf) for p, leaf in
                                     jax.tree_util.tree_flatten_with_path(critic_params)[0]})
    if out.is_dir():
      out.rmdir()  # empty (checked before converting)
    tmp.rename(out)
  except OSError as e:
    raise errors.write_error(out, e) from e
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


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
      config.model.image_size = check_image_size(
          flags.image_size, "--image_size",
          config.model.critic_num_layers if flags.critic is not None else None)
    if flags.out is not None:  # before any file is read
      check_output_path(Path(flags.out).expanduser(), folder=True)
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
  # A config file given (configs/ganimation.py) imports `configs.common` from beside it.
  for root in config_upgrade.config_roots(sys.argv):
    if str(root) not in sys.path:
      sys.path.insert(1, str(root))
  config_flags.DEFINE_config_file("config", __file__, "GANimation config file whose sizes the "
                                  "checkpoint has (default: the paper's, as both PyTorch "
                                  "codebases, shipped in the package).", lock_config=True)
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
