"""Finding, building and opening the project's TFDS datasets (array_record, no TensorFlow).

Builders live in the repository's ``datasets/<name>/<name>_dataset_builder.py`` (the ``tfds new``
layout), which a wheel installs as the package ``fxs_jax_datasets`` (``pyproject.toml``). They are
imported by path under that name, so that the PyPI package called ``datasets`` (Hugging Face) is
never shadowed, whether or not it is installed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import sys
import types
from pathlib import Path

from absl import logging
import tensorflow_datasets as tfds

from fxs_jax.data import manual_datasets
from fxs_jax.errors import DatasetError
from fxs_jax.errors import UserError
from fxs_jax.faces import framing as framing_lib

_PACKAGE = "fxs_jax_datasets"
# Datasets that need no download: built automatically on first use.
PROCEDURAL = ("synth_faces",)


def datasets_dir() -> Path:
  """The folder holding the builders: $FXS_JAX_DATASETS_DIR, else the checkout's ``datasets/``
  (beside the ``fxs_jax`` folder; an editable install too), else the installed
  ``fxs_jax_datasets`` package (a wheel)."""
  env = os.environ.get("FXS_JAX_DATASETS_DIR")
  if env:
    return Path(env)
  # Beside an installed fxs_jax, "datasets" may be Hugging Face's package: a checkout's has ours.
  checkout = Path(__file__).resolve().parents[2] / "datasets"
  if _builder_path(checkout, PROCEDURAL[0]).is_file():
    return checkout
  installed = importlib.util.find_spec(_PACKAGE)
  if installed is not None and installed.submodule_search_locations:
    return Path(next(iter(installed.submodule_search_locations)))
  return checkout  # absent: builder_class names the folder it looked in


def _builder_path(root: Path, name: str) -> Path:
  return root / name / f"{name}_dataset_builder.py"


def _import_by_path(module_name: str, path: Path) -> types.ModuleType:
  if module_name in sys.modules:
    return sys.modules[module_name]
  is_package = path.name == "__init__.py"
  spec = importlib.util.spec_from_file_location(
      module_name, path, submodule_search_locations=[str(path.parent)] if is_package else None)
  module = importlib.util.module_from_spec(spec)
  sys.modules[module_name] = module
  try:
    spec.loader.exec_module(module)
  except BaseException:
    del sys.modules[module_name]
    raise
  return module


def builder_class(name: str) -> type[tfds.core.GeneratorBasedBuilder]:
  """The ``Builder`` class of ``datasets/<name>/``, imported once per process."""
  root = datasets_dir()
  path = _builder_path(root, name)
  if not path.is_file():
    known = sorted(p.name for p in root.glob("*/") if _builder_path(root, p.name).is_file())
    raise DatasetError(
        f"No dataset builder named {name!r} (looked for {path}). Known datasets: "
        f"{', '.join(known) or 'none'}; set config.data.name to '<dataset>/<config>'.")
  _import_by_path(_PACKAGE, root / "__init__.py")
  _import_by_path(f"{_PACKAGE}.{name}", root / name / "__init__.py")
  module = _import_by_path(f"{_PACKAGE}.{name}.{name}_dataset_builder", path)
  return module.Builder


def get_builder(full_name: str, data_dir: str | None = None, framing: str = ""
                ) -> tfds.core.DatasetBuilder:
  """A builder for ``"<dataset>/<config>"`` (e.g. ``"synth_faces/stills_64"``).

  ``framing``: for a dataset built from photos, a face framing of :mod:`fxs_jax.faces.framing`
  other than the dataset's own; the config is then built apart, as ``<config>_<framing>``.
  """
  name, _, config_name = full_name.partition("/")
  cls = builder_class(name)
  configs = {c.name: c for c in cls.BUILDER_CONFIGS}
  if config_name and configs and config_name not in configs:
    raise DatasetError(
        f"Dataset {name!r} has no config {config_name!r}; choose from {', '.join(configs)} "
        f"(config.data.name='{name}/<config>').")
  kwargs = {"config": config_name} if config_name else {}
  if framing:
    if not issubclass(cls, manual_datasets.ManualDatasetBuilder):
      raise DatasetError(f"config.data.framing={framing!r} applies to datasets built from "
                         f"photos; {name} is rendered in its own framing: set it to ''.")
    framing_lib.get(framing)  # a one-line error for an unknown name
    chosen = configs[config_name or cls.DEFAULT_CONFIG_NAME]
    if framing != (chosen.framing or cls.FRAMING):
      kwargs["config"] = dataclasses.replace(chosen, name=f"{chosen.name}_{framing}",
                                             framing=framing)
  return cls(data_dir=os.path.expanduser(data_dir) if data_dir else None, **kwargs)


def is_prepared(builder: tfds.core.DatasetBuilder) -> bool:
  return (Path(builder.data_dir) / "dataset_info.json").is_file()


def manual_dir_for(builder: tfds.core.DatasetBuilder, manual_dir: str | None = None) -> Path:
  """Where a manual dataset's download is: ``manual_dir``, else ``$FXS_JAX_MANUAL_DIR/<name>``,
  else the folder the existing build was made from, else ``<data_dir>/downloads/manual/<name>``."""
  if manual_dir:
    return Path(manual_dir).expanduser()
  if os.environ.get("FXS_JAX_MANUAL_DIR"):
    return Path(os.environ["FXS_JAX_MANUAL_DIR"]).expanduser() / builder.name
  stored = _stored_fingerprint(builder)
  if stored:
    return Path(stored["manual_dir"])
  return Path(builder.data_dir_root) / "downloads" / "manual" / builder.name


def _stored_fingerprint(builder: tfds.core.DatasetBuilder) -> dict | None:
  path = Path(builder.data_dir) / manual_datasets.FINGERPRINT_FILE
  try:
    stored = json.loads(path.read_text())
  except (OSError, ValueError):
    return None
  # Written by the build; anything else (edited, truncated to other JSON) counts as no record,
  # so the dataset is rebuilt from the download.
  if not (isinstance(stored, dict) and isinstance(stored.get("manual_dir"), str)
          and isinstance(stored.get("fingerprint"), str)):
    return None
  return stored


def _manual_build_is_current(builder: tfds.core.DatasetBuilder, manual_dir: Path) -> bool:
  """False when the manual folder's files changed since the build (added, removed, touched)."""
  stored = _stored_fingerprint(builder)
  if not manual_dir.is_dir():
    logging.info("%s: manual folder %s not found; using the existing build.", builder.name,
                 manual_dir)
    return True
  return bool(stored) and stored.get("fingerprint") == manual_datasets.fingerprint(manual_dir)


def _delete_generated(builder: tfds.core.DatasetBuilder, manual_dir: Path) -> None:
  """Deletes the built dataset folder only (never the manual download)."""
  generated = Path(builder.data_dir).resolve()
  manual = manual_dir.resolve()
  if generated == manual or generated in manual.parents or manual in generated.parents:
    raise DatasetError(f"The manual folder {manual} overlaps the built dataset {generated}; move "
                       "the download outside the TFDS data_dir's dataset folders.")
  shutil.rmtree(generated)


def _prepare_manual(full_name: str, data_dir: str | None, manual_dir: str | None,
                    framing: str = "") -> tfds.core.DatasetBuilder:
  """Builds a dataset from the user's download, rebuilding when the download changed."""
  builder = get_builder(full_name, data_dir, framing)
  folder = manual_dir_for(builder, manual_dir)
  if is_prepared(builder):
    if _manual_build_is_current(builder, folder):
      return builder
    print(f"The files in {folder} changed since {full_name} was built; rebuilding it.",
          flush=True)
    _delete_generated(builder, folder)
    builder = get_builder(full_name, data_dir, framing)
  print(f"Building {full_name} in {builder.data_dir} from {folder}...", flush=True)
  try:
    builder = _build(builder, full_name, data_dir,
                     tfds.download.DownloadConfig(manual_dir=str(folder), try_download_gcs=False),
                     lambda built: _manual_build_is_current(built, folder), framing)
  except UserError:
    raise  # incl. the layout's DatasetErrors (check_manual_dir, no usable examples): they say it
  except Exception as e:  # pylint: disable=broad-except
    message = f"Could not prepare {full_name} from {folder}: " + (
        " ".join(str(e).split()) or type(e).__name__)
    # The download instructions help only when a file of the download is missing; after any
    # other failure (an unreadable file, a bug) they would send the user to fix a layout that
    # is right.
    if (isinstance(e, FileNotFoundError) and isinstance(e.filename, str)
        and Path(e.filename).is_relative_to(folder)):
      instructions = " ".join((getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", "") or "").split())
      message = f"{message.rstrip('.')}. {instructions}".strip()
    raise DatasetError(message) from e
  report = Path(builder.data_dir) / manual_datasets.SKIP_FILES[1]
  try:
    summary = report.read_text(errors="replace").partition("\n")[0]
  except OSError:
    summary = ""
  if summary:
    print(f"{summary}; details: {report}", flush=True)
  return builder


def prepare(full_name: str, data_dir: str | None = None, build_if_missing: bool = True,
            manual_dir: str | None = None, framing: str = "") -> tfds.core.DatasetBuilder:
  """Returns a builder whose data is on disk, building it on first use.

  Procedural datasets (:data:`PROCEDURAL`) are rendered. The others are built from the user's
  download in ``manual_dir`` (see :func:`manual_dir_for` for the default), and rebuilt when the
  files there changed since the build (the built dataset is replaced; the download is only read).
  ``framing``: see :func:`get_builder`.
  """
  name = full_name.partition("/")[0]
  if name not in PROCEDURAL:
    return _prepare_manual(full_name, data_dir, manual_dir, framing)
  builder = get_builder(full_name, data_dir, framing)
  if is_prepared(builder):
    return builder
  if not build_if_missing:
    raise DatasetError(
        f"{full_name} is not built in {builder.data_dir}; set config.data.build_if_missing=True "
        "to build it.")
  print(f"Building {full_name} in {builder.data_dir} (first use; it is procedural, no download)...",
        flush=True)
  # SynthFaces is deterministic: a copy another process built meanwhile is this one's.
  return _build(builder, full_name, data_dir,
                tfds.download.DownloadConfig(try_download_gcs=False), lambda built: True)


def _build(builder: tfds.core.DatasetBuilder, full_name: str, data_dir: str | None,
           download_config, same_data, framing: str = "") -> tfds.core.DatasetBuilder:
  """``builder.download_and_prepare``, or the copy another process (a second run started at the
  same time) finished first: TFDS's final rename then raises FileExistsError, and the finished
  copy is used when ``same_data(its builder)`` (a manual build: made from the same files).
  Anything else is re-raised."""
  try:
    builder.download_and_prepare(file_format="array_record", download_config=download_config)
  except FileExistsError:
    built = get_builder(full_name, data_dir, framing)
    if not (is_prepared(built) and same_data(built)):
      raise
    print(f"{full_name} was built meanwhile by another process; using it.", flush=True)
    return built
  print(f"Built {full_name}.", flush=True)
  return builder


def data_sources(full_name: str, splits: tuple[str, ...], data_dir: str | None = None,
                 build_if_missing: bool = True, manual_dir: str | None = None,
                 framing: str = "") -> dict:
  """Random-access sources (``len`` + ``__getitem__`` -> dict of numpy) for each split.

  Opens and reads the first and last record of each split, so that an incomplete or corrupt
  folder is reported here, with the fix, rather than deep inside a training loop.
  ``manual_dir``: where a real dataset's download is (see :func:`manual_dir_for`);
  ``framing``: a face framing other than the dataset's own (see :func:`get_builder`).
  """
  builder = prepare(full_name, data_dir, build_if_missing, manual_dir, framing)
  sources = {}
  for split in splits:
    try:
      source = builder.as_data_source(split=split)
      if len(source):
        source[0], source[len(source) - 1]  # pylint: disable=pointless-statement
    except UserError:
      raise  # the builder's own one-line reason (e.g. too few subjects for a validation split)
    except Exception as e:  # pylint: disable=broad-except
      if isinstance(e, (KeyError, ValueError)) and split not in builder.info.splits:
        raise DatasetError(
            f"{full_name} has no split {split!r}; it has {', '.join(builder.info.splits)}.") from e
      raise DatasetError(
          f"The {full_name} data in {builder.data_dir} is unreadable (its files are damaged or "
          "incomplete). "
          f"Delete that folder and run again to rebuild it"
          + (" (it is procedural)." if full_name.partition('/')[0] in PROCEDURAL else
             ", or re-run its preparation from your download.")) from e
    sources[split] = source
  return sources
