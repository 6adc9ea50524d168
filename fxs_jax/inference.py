"""Trained models in one line: ``fxs_jax.load(path)`` and ``fxs_jax.export(workdir, out_dir)``.

``load`` reads a training workdir (the config saved with the checkpoint, then only the generator's
checkpoint item: no critic, no optimiser state) or an exported directory, and returns a
``TrainedModel``: the config, the step, the Flax generator and its params, and the recipe's
declared predictions (``edit``, ``transfer``, ``sample_motion``, ``render_frames``,
``sample_video``) as jitted, batched methods. ``fxs_jax.load`` adds the uses on photos and videos
(``fxs_jax.face_model``).

An export is a portable directory: ``params.npz`` (the generator's arrays by parameter path,
float32 or float16), ``config.json`` and ``fxs_jax_export.json`` (format name and version, model,
step). It loads with no training state, no Orbax and no ``configs/`` import.

Bundled models: ``load("synthfaces/ganimation")`` (and ``lgpgan``, ``cgan_transfer``,
``motiongan``, ``texturegan``) reads the exports shipped in ``fxs_jax/pretrained/synthfaces/``:
each paper's best ``:demo`` run on SynthFaces, with its ``eval.json`` and the command that trained
it in ``fxs_jax_export.json``.
"""

from __future__ import annotations

import datetime
import inspect
import json
import os
import shutil
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import nnx

from fxs_jax import config_upgrade
from fxs_jax import errors
from fxs_jax import recipes
from fxs_jax import sharding
from fxs_jax.errors import UserError
from fxs_jax.recipes.base import GANRecipe
from fxs_jax.recipes.base import Predictor
from fxs_jax.train import saved_files
from fxs_jax.train import state as state_lib
from fxs_jax.train.checkpoint import check_same_shapes
from fxs_jax.train.checkpoint import Checkpointer
from fxs_jax.train.checkpoint import CONFIG_SCHEMA
from fxs_jax.train.checkpoint import path_name
from fxs_jax.train.checkpoint import UnreadableCheckpoint

EXPORT_FORMAT = "fxs_jax.export"
EXPORT_VERSION = 1
MANIFEST = "fxs_jax_export.json"
PARAMS_FILE = "params.npz"
BUNDLED_DIR = Path(__file__).resolve().parent / "pretrained"
EXPORT_DTYPES = ("float32", "float16")
MAX_SAVED_SIZE = 4096  # a saved config's model.image_size: the papers train at 64 to 256


def bundled_names() -> list[str]:
  """Names of the models shipped with fxs_jax (``"synthfaces/ganimation"``, ...)."""
  return sorted(m.parent.relative_to(BUNDLED_DIR).as_posix()
                for m in BUNDLED_DIR.glob(f"*/*/{MANIFEST}"))


def resolve(path: str | Path) -> Path:
  """``path`` itself, or for a bundled model's name (``"synthfaces/ganimation"``) its folder."""
  given = Path(path).expanduser()
  if given.exists() or given.is_absolute() or str(path).split("/")[0] not in (
      n.split("/")[0] for n in bundled_names()):
    return given
  if (BUNDLED_DIR / str(path) / MANIFEST).is_file():
    return BUNDLED_DIR / str(path)
  raise UserError(f"No bundled model named {str(path)!r}: choose from {bundled_names()}, or pass "
                  "a training workdir or an export directory.")


class TrainedModel:
  """A trained generator and the recipe's declared predictions as methods.

  ``model.edit(images, emotion="happy")`` (say) builds the batch from the arguments
  (``Predictor.inputs``), runs the jitted prediction in chunks of ``config.eval.batch_size`` and
  returns its ``"image"`` output (uint8 if the input images were uint8, else float32 in [-1, 1]);
  ``model.predict("edit", batch)`` returns every output. ``model.generator`` is the Flax module.
  A task the model does not declare (``model.predictions``) raises a one-line error naming the
  ones it has; ``model.declaration(name)`` says what a prediction is conditioned on.
  """

  def __init__(self, recipe: GANRecipe, graphdef: nnx.GraphDef, params: nnx.State,
               rest: nnx.State, step: int, source: str = ""):
    self.recipe, self.config, self.step, self.source = recipe, recipe.config, step, source
    self.graphdef, self.params, self.rest = graphdef, params, rest
    self._predictors = recipe.predictors()
    self._jitted: dict[str, Any] = {}
    # Batch sizes each prediction was traced (so compiled) for: a new size costs seconds.
    self.traced_batch_sizes: dict[str, list[int]] = {}

  @property
  def generator(self) -> nnx.Module:
    """The Flax NNX generator with the trained params."""
    return nnx.merge(self.graphdef, self.params, self.rest)

  @property
  def predictions(self) -> tuple[str, ...]:
    """Names of the predictions this model offers (each is also a method)."""
    return tuple(self._predictors)

  def num_params(self) -> int:
    return int(sum(np.size(x) for x in jax.tree.leaves(self.params)))

  def declaration(self, name: str) -> Predictor:
    """The declaration of prediction ``name`` (what it is conditioned on, what it returns);
    a one-line error if the model has no such prediction."""
    if name not in self._predictors:
      raise UserError(f"{self.config.model_name} has no prediction {name!r}; it has "
                      f"{', '.join(self._predictors) or 'none'}.")
    return self._predictors[name]

  def predict(self, name: str, batch: dict) -> Any:
    """Prediction ``name`` on ``batch`` (arrays with the batch first); every output as numpy.

    Compiled once per bucket, not per batch size: the rows run in chunks of
    ``config.eval.batch_size``, each padded to the next power of two (at most the chunk), so
    1, 3 and 5 faces compile for 1, 4 and 8 rows and any batch for at most log2(chunk) + 1 sizes
    per image size (``traced_batch_sizes[name]`` lists them). A row's output does not depend on
    the other rows (the generators work per example), but XLA may vectorise two batch sizes
    differently: GANimation's 64 px edits of 1-3 rows differed from the same rows in a batch of
    4+ by up to 4e-6 (of [-1, 1]; AMD EPYC, AVX2), so a padded call matches an unpadded one to
    ~1e-5, not bit for bit (tests/test_edit_cli.py).
    """
    compute, graphdef = self.declaration(name).compute, self.graphdef
    if name not in self._jitted:
      traced = self.traced_batch_sizes.setdefault(name, [])

      def prediction(params, rest, b):
        traced.append(len(jax.tree.leaves(b)[0]))  # Python runs only while jax traces
        return compute(nnx.merge(graphdef, params, rest), b)
      self._jitted[name] = jax.jit(prediction)
    batch = {k: _as_array(v) for k, v in batch.items()}
    fn = lambda part: self._jitted[name](self.params, self.rest, part)
    return sharding.apply_in_chunks(fn, batch, self.config.eval.batch_size)

  def run(self, name: str, *args, **kwargs) -> Any:
    """Prediction ``name`` from a user's arguments (its ``Predictor.inputs``): the ``"image"``
    output typed and shaped as the images given, or every output (a dict) of other predictions."""
    predictor = self.declaration(name)
    result = self.predict(name, predictor.inputs(*args, **kwargs))
    if isinstance(result, dict) and "image" in result:
      result = result["image"]
    if not isinstance(result, dict):  # images: typed and shaped as the images given
      given = inspect.signature(predictor.inputs).bind(*args, **kwargs).arguments
      images = given.get(predictor.image_arg)
      if images is not None and np.asarray(images).dtype == np.uint8:
        result = np.clip(np.round((result + 1.0) * 127.5), 0, 255).astype(np.uint8)
      if images is not None and np.ndim(images) == 3 and predictor.one_in_one_out:
        result = result[0]
    return result

  # ---- the tasks (``fxs_jax.recipes.base.TASKS``); the arguments are the recipe's ------------
  def edit(self, images, **target) -> np.ndarray:
    """``images`` (B, H, W, 3) or one face, edited towards ``target`` (e.g. ``emotion="happy"``,
    ``aus=``, ``intensity=``, ``start=``, ``landmarks=``: what ``declaration("edit")`` is
    conditioned on; the recipe's ``edit_inputs`` documents them)."""
    return self.run("edit", images, **target)

  def transfer(self, source_images, target_images, source_landmarks=None,
               target_landmarks=None) -> np.ndarray:
    """The source faces' expressions put on the target faces (landmarks where
    ``declaration("transfer").needs_landmarks``)."""
    return self.run("transfer", source_images, target_images, source_landmarks, target_landmarks)

  def sample_motion(self, *motion_class, **options) -> Any:
    """Landmark motions of a motion class, as the recipe declares it (MotionGAN: ``emotion``,
    then ``num_samples``, ``neutral_landmarks``, ``seed``, ``noise``; returns ``srvf``, ``curve``
    and, with ``neutral_landmarks=``, ``landmarks``)."""
    return self.run("sample_motion", *motion_class, **options)

  def render_frames(self, neutral_images, landmarks) -> np.ndarray:
    """Frames (T, H, W, 3) of a neutral face wearing a landmark sequence (T, 68, 2)."""
    return self.run("render_frames", neutral_images, landmarks)

  def sample_video(self, *motion_class, **options) -> np.ndarray:
    """Clips of a motion class generated from noise, with no input face, as the recipe declares
    it (MoCoGAN: ``emotion``, then ``num_samples``, ``seed``, ``content``, ``same_content``,
    ``frames``); the frames (B, T, H, W, 3), float32 in [-1, 1]."""
    return self.run("sample_video", *motion_class, **options)

  def animate_face(self, faces, *motion_class, **options) -> np.ndarray:
    """Clips of a motion class from neutral ``faces`` (VGAN ``:from_face``: ``emotion``, then
    ``seed``; the recipe's ``animate_face_inputs`` documents them)."""
    return self.run("animate_face", faces, *motion_class, **options)

  def __repr__(self) -> str:
    return (f"TrainedModel({self.config.model_name}, step {self.step}, "
            f"{self.num_params():,} generator params, predictions: {', '.join(self.predictions)})")


def _as_array(value) -> np.ndarray:
  """A batch entry as numpy; float64 (numpy's default for Python floats) as float32."""
  arr = np.asarray(value)
  return arr.astype(np.float32) if arr.dtype == np.float64 else arr


def recipe_for(config: ml_collections.ConfigDict) -> GANRecipe:
  """The recipe of ``config.model_name`` (its constructor validates the config)."""
  cls = recipes.RECIPES.get(config.model_name)
  if cls is None:
    raise UserError(f"Model {config.model_name!r} is not implemented; implemented models: "
                    f"{', '.join(sorted(recipes.RECIPES))}.")
  return cls(config)


def abstract_generator(recipe: GANRecipe) -> tuple[nnx.GraphDef, dict]:
  """The generator's graph and its abstract checkpoint item (shapes only, nothing computed)."""
  gen = nnx.eval_shape(lambda: recipe.build_generator(nnx.Rngs(recipe.config.seed)))
  graphdef, params, rest = state_lib.split(gen)
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  place = lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device)
  return graphdef, jax.tree.map(place, state_lib.generator_item(params, rest))


def from_state(recipe: GANRecipe, graphdef: nnx.GraphDef, gen_params, gen_rest, step: int,
               source: str = "") -> TrainedModel:
  """A ``TrainedModel`` on a generator's params from a train state (e.g. in ``--mode=eval``)."""
  return TrainedModel(recipe, graphdef, gen_params, gen_rest, step, source)


def load(path: str | Path, step: int | None = None) -> TrainedModel:
  """The trained generator in ``path``: a training workdir (checkpoint ``step``, default the
  newest) or a directory written by ``export``. Works from any current directory."""
  path = resolve(path)
  if (path / MANIFEST).is_file():
    if step is not None:
      raise UserError(f"{path} is an export of one step ({_manifest(path)['step']}); step= "
                      "selects checkpoints of training workdirs only.")
    return _load_export(path)
  if (path / "checkpoints").is_dir():
    return _load_workdir(path, step)
  if not path.exists():
    raise UserError(f"{path} does not exist: pass a training workdir or an exported model "
                    "directory.")
  raise UserError(f"No checkpoint in {path / 'checkpoints'} and no {MANIFEST} in {path}: train "
                  "first (--mode=train), or point at a trained run's workdir or an fxs_jax export.")


def _load_workdir(workdir: Path, step: int | None) -> TrainedModel:
  built = {}

  def abstract_items_for(ckpt: Checkpointer, at: int) -> dict:
    recipe, graphdef, item = _built_from_saved(
        ckpt.restore_config(at), f"The config of the checkpoint at step {at} in {ckpt.directory}",
        "it was edited, or written by another fxs_jax version", UnreadableCheckpoint)
    built.update(recipe=recipe, graphdef=graphdef)
    if state_lib.LEGACY_ITEM in ckpt.items(at):  # one-item checkpoint of an earlier version
      return {state_lib.LEGACY_ITEM: state_lib.abstract_state(recipe, recipe.config)}
    return {state_lib.GENERATOR_ITEM: item}

  items, step = Checkpointer.load(workdir / "checkpoints", step, abstract_items_for)
  if state_lib.LEGACY_ITEM in items:
    state = items[state_lib.LEGACY_ITEM]
    gen = state_lib.generator_item(state.gen_params, state.gen_rest)
  else:
    gen = items[state_lib.GENERATOR_ITEM]
  return TrainedModel(built["recipe"], built["graphdef"], gen["params"], gen["rest"], step,
                      source=str(workdir))


# What every export's manifest holds (other keys, e.g. ``command``, are free).
MANIFEST_SCHEMA = {"format": str, "version": int, "model": str, "step": int}


def _export_fix(directory: Path) -> str:
  """How to get a good copy of the export in ``directory``: from the manifest's record of where
  it came from, if that much can be read."""
  if BUNDLED_DIR in directory.resolve().parents:
    return ("this bundled model is damaged: restore it from the source checkout (git checkout "
            "-- fxs_jax/pretrained) or reinstall fxs_jax")
  try:
    if (directory / MANIFEST).stat().st_size > saved_files.MAX_JSON_BYTES:
      raise ValueError("too large to be a manifest")
    manifest = json.loads((directory / MANIFEST).read_text())
    origin, converted = manifest.get("exported_from"), manifest.get("converted_from")
  except (OSError, ValueError, RecursionError, AttributeError):
    origin = converted = None
  if isinstance(converted, dict) and isinstance(converted.get("generator"), str):
    return ("convert it again into a new folder: python -m fxs_jax.convert_torch "
            f"--generator={converted['generator']} --out=NEW_DIR")
  if isinstance(origin, str) and (Path(origin) / "checkpoints").is_dir():
    return ("export it again into a new folder from the training workdir it came from: "
            f"python -m fxs_jax.export_model {origin} NEW_DIR")
  return ("export it again from its training workdir (python -m fxs_jax.export_model WORKDIR "
          "NEW_DIR) or download it again")


def _manifest(directory: Path) -> dict:
  """The export's manifest, checked against ``MANIFEST_SCHEMA`` and this code's format."""
  path, fix = directory / MANIFEST, _export_fix(directory)
  manifest = saved_files.read_json(path, MANIFEST_SCHEMA, "an fxs_jax export manifest", fix)
  if manifest["format"] != EXPORT_FORMAT:
    raise saved_files.BadFile(f"{path} is not an fxs_jax export (format "
                              f"{manifest['format'][:40]!r}, not {EXPORT_FORMAT!r}).")
  if manifest["version"] > EXPORT_VERSION:
    raise UserError(f"{directory} was exported by a newer fxs_jax (format version "
                    f"{manifest['version']} > {EXPORT_VERSION}): upgrade fxs_jax.")
  if manifest["version"] < 1:
    raise saved_files.BadFile(f"{path} gives format version {manifest['version']}, which no "
                              f"fxs_jax writes (this one reads 1 to {EXPORT_VERSION}): {fix}.")
  if manifest["step"] < 0:
    raise saved_files.BadFile(f"{path} gives step {manifest['step']}; a trained step is >= 0: "
                              f"{fix}.")
  return manifest


def _load_export(directory: Path) -> TrainedModel:
  manifest, fix = _manifest(directory), _export_fix(directory)
  config_path = directory / "config.json"
  config = saved_files.read_json(config_path, CONFIG_SCHEMA, "an fxs_jax config", fix)
  if config["model_name"] != manifest["model"]:
    raise saved_files.BadFile(
        f"{config_path} is a {config['model_name'][:40]!r} config but {directory / MANIFEST} "
        f"says the model is {manifest['model'][:40]!r}: {fix}.")
  recipe, graphdef, abstract = _built_from_saved(ml_collections.ConfigDict(config),
                                                 str(config_path), fix)
  saved = saved_files.read_npz(directory / PARAMS_FILE, fix)
  paths_leaves, treedef = jax.tree_util.tree_flatten_with_path(abstract)
  names = [path_name(p) for p, _ in paths_leaves]
  check_same_shapes({n: tuple(leaf.shape) for n, (_, leaf) in zip(names, paths_leaves)},
                    {n: tuple(a.shape) for n, a in saved.items()}, f"The export in {directory}")
  for name in names:
    if not (np.issubdtype(saved[name].dtype, np.number) or saved[name].dtype == bool):
      raise saved_files.BadFile(f"{directory / PARAMS_FILE}: array {name!r} holds "
                                f"{saved[name].dtype} values, not numbers: {fix}.")
  leaves = [jax.numpy.asarray(saved[n], leaf.dtype) for n, (_, leaf) in zip(names, paths_leaves)]
  gen = jax.tree_util.tree_unflatten(treedef, leaves)
  return TrainedModel(recipe, graphdef, gen["params"], gen["rest"], int(manifest["step"]),
                      source=str(directory))


def _built_from_saved(config: ml_collections.ConfigDict, what: str, fix: str,
                      error: type[UserError] = saved_files.BadFile
                      ) -> tuple[GANRecipe, nnx.GraphDef, dict]:
  """The recipe and the abstract generator of a saved config; a config whose fields do not
  build (a section of the wrong type, a missing field) raises ``error`` naming ``what``. A
  config saved by earlier code is upgraded first (``fxs_jax.config_upgrade``)."""
  try:
    config = config_upgrade.upgrade(config)
    size = config.model.get("image_size", 1)  # fully convolutional nets build for any size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_SAVED_SIZE:
      raise ValueError(f"model.image_size={size!r} is not a side in pixels (1 to "
                       f"{MAX_SAVED_SIZE})")
    recipe = recipe_for(config)
    return (recipe, *abstract_generator(recipe))
  except (AttributeError, KeyError, TypeError, ValueError, IndexError) as e:
    raise error(f"{what} does not describe a {config.model_name} model this fxs_jax builds "
                f"({saved_files.brief(e)}): {fix}.") from e


def export(path: str | Path, out_dir: str | Path, step: int | None = None,
           dtype: str = "float32", **manifest_extra) -> Path:
  """Writes the generator of ``path`` (a workdir, checkpoint ``step``; or an export) to a new
  portable directory ``out_dir`` that ``load`` reads with no training state.

  ``dtype="float16"`` stores the floating arrays at half size (loaded back as float32; the
  bundled models are stored so). ``manifest_extra`` (e.g. ``command=``) is kept in the manifest.
  """
  out_dir = Path(out_dir).expanduser().absolute()
  errors.check_output_path(out_dir, folder=True)
  if out_dir.exists() and any(out_dir.iterdir()):
    raise UserError(f"{out_dir} exists and is not empty: export into a new directory.")
  if dtype not in EXPORT_DTYPES:
    raise UserError(f"Export dtype {dtype!r} is not one of {EXPORT_DTYPES}.")
  model = load(path, step)
  # Written beside out_dir, then renamed: out_dir is a complete export or absent.
  tmp = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.tmp")
  try:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    write_export(model, tmp, dtype, exported_from=str(Path(path).absolute()), **manifest_extra)
    if out_dir.is_dir():
      out_dir.rmdir()  # empty (checked above)
    tmp.rename(out_dir)
  except OSError as e:
    raise errors.write_error(out_dir, e) from e
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return out_dir


def write_export(model: TrainedModel, out_dir: Path, dtype: str = "float32",
                 **manifest_extra) -> Path:
  """Writes ``model``'s generator as an export directory (see the module docstring)."""
  item = state_lib.generator_item(model.params, model.rest)
  arrays = {path_name(p): np.asarray(jax.device_get(leaf))
            for p, leaf in jax.tree_util.tree_flatten_with_path(item)[0]}
  arrays = {n: a.astype(dtype) if np.issubdtype(a.dtype, np.floating) else a
            for n, a in arrays.items()}
  out_dir.mkdir(parents=True, exist_ok=True)
  np.savez(out_dir / PARAMS_FILE, **arrays)
  (out_dir / "config.json").write_text(model.config.to_json_best_effort(indent=2, sort_keys=True))
  manifest = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION,
              "model": model.config.model_name, "step": model.step,
              "generator_params": model.num_params(),
              "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              "dtype": dtype, **manifest_extra}
  (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2))
  return out_dir
