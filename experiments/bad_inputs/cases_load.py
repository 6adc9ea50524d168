"""``fxs_jax.load`` on exports damaged one way each (a copy of the bundled GANimation export in
the sandbox) and on folders that are no model at all."""

from __future__ import annotations

import json
import shutil

import numpy as np

from experiments.bad_inputs import fixtures
from experiments.bad_inputs.harness import Case


def _load(path: str, step=None):
  def call(sb, fx):
    import fxs_jax  # pylint: disable=import-outside-toplevel
    model = fxs_jax.load(path.format(sb=sb, fx=fx), **({} if step is None else {"step": step}))
    return model
  return call


def _case(name, expect, change=None, path="{sb}/export", step=None, **kw) -> Case:
  def setup(sb, fx):
    export = fixtures.export_copy(sb, fx)
    if change is not None:
      change(export)
  what = f"fxs_jax.load({path!r}" + (f", step={step}" if step is not None else "") + ")"
  return Case(id=f"load.{name}", cls="load", expect=expect, what=what, call=_load(path, step),
              setup=setup if change is not None or path == "{sb}/export" else None, **kw)


def _edits(sb, fx, run):
  del sb, fx
  model = run.result
  size = model.config.model.image_size
  faces = np.full((1, size, size, 3), 128, np.uint8)
  out = model.edit(faces, emotion="happy")
  if out.shape != faces.shape or out.dtype != np.uint8:
    return f"the loaded model edits to {out.shape} {out.dtype}"
  return ""


def _manifest(change):
  return lambda e: fixtures.edit_json(e / "fxs_jax_export.json", change)


def _without(key):
  return _manifest(lambda m: {k: v for k, v in m.items() if k != key})


def _with(**fields):
  return _manifest(lambda m: {**m, **fields})


def _config(text):
  return lambda e: (e / "config.json").write_text(text)


def _arrays(change):
  return lambda e: fixtures.rewrite_npz(e / "params.npz", change)


def _drop_first(arrays):
  return {k: v for k, v in list(arrays.items())[1:]}


def _reshape_first(arrays):
  first = next(iter(arrays))
  return {**arrays, first: np.zeros((3, 5), arrays[first].dtype)}


def _config_field(path, value):
  def change(export):
    config = json.loads((export / "config.json").read_text())
    node = config
    for key in path[:-1]:
      node = node[key]
    node[path[-1]] = value
    (export / "config.json").write_text(json.dumps(config))
  return change


def _empty_checkpoints(export):
  shutil.rmtree(export)
  (export / "checkpoints").mkdir(parents=True)


def _junk_checkpoint(export):
  shutil.rmtree(export)
  (export / "checkpoints" / "7").mkdir(parents=True)
  (export / "checkpoints" / "7" / "junk").write_text("not a checkpoint")


def cases() -> list[Case]:
  return [
      Case(id="load.bundled_name", cls="load", expect="ok", what="fxs_jax.load('synthfaces/"
           "ganimation')", call=_load("synthfaces/ganimation"), check=_edits),
      _case("export_copy", "ok", check=_edits),
      _case("export_float32", "ok", _arrays(lambda a: {k: v.astype(np.float32) if v.dtype ==
                                                        np.float16 else v for k, v in a.items()}),
            check=_edits),
      Case(id="load.missing_path", cls="load", expect="error", what="fxs_jax.load('{sb}/nope')",
           call=_load("{sb}/nope")),
      Case(id="load.a_file", cls="load", expect="error", what="fxs_jax.load('{fx}/a_file')",
           call=_load("{fx}/a_file")),
      Case(id="load.empty_folder", cls="load", expect="error", what="fxs_jax.load('{sb}/empty')",
           call=_load("{sb}/empty"), setup=lambda sb, fx: (sb / "empty").mkdir()),
      _case("step_on_an_export", "error", step=3),
      # params.npz
      _case("params_truncated_half", "error", lambda e: fixtures.truncate(e / "params.npz")),
      _case("params_truncated_to_header", "error",
            lambda e: fixtures.truncate(e / "params.npz", 0.001)),
      _case("params_empty_file", "error", lambda e: (e / "params.npz").write_bytes(b"")),
      _case("params_flipped_byte_in_data", "error",
            lambda e: fixtures.flip_byte(e / "params.npz", 0.5)),
      _case("params_flipped_byte_in_directory", "error",
            lambda e: fixtures.flip_directory_name(e / "params.npz")),
      _case("params_text_file", "error", lambda e: (e / "params.npz").write_text("not a zip")),
      _case("params_missing", "error", lambda e: (e / "params.npz").unlink()),
      _case("params_array_missing", "error", _arrays(_drop_first)),
      _case("params_array_wrong_shape", "error", _arrays(_reshape_first)),
      _case("params_a_folder", "error",
            lambda e: ((e / "params.npz").unlink(), (e / "params.npz").mkdir())),
      # config.json
      _case("config_invalid_json", "error", _config("{not json")),
      _case("config_a_list", "error", _config("[1, 2]")),
      _case("config_a_number", "error", _config("3")),
      _case("config_empty_object", "error", _config("{}")),
      _case("config_model_a_number", "error", _config_field(["model"], 3)),
      _case("config_image_size_text", "error", _config_field(["model", "image_size"], "big")),
      _case("config_image_size_negative", "error", _config_field(["model", "image_size"], -64)),
      _case("config_unknown_model_name", "error", _config_field(["model_name"], "nope")),
      _case("config_missing", "error", lambda e: (e / "config.json").unlink()),
      # fxs_jax_export.json
      _case("manifest_version_text", "error", _with(version="abc")),
      _case("manifest_version_newer", "error", _with(version=99)),
      _case("manifest_version_null", "error", _with(version=None)),
      _case("manifest_no_step", "error", _without("step")),
      _case("manifest_step_text", "error", _with(step="x")),
      _case("manifest_step_negative", "error", _with(step=-5)),
      _case("manifest_other_format", "error", _with(format="something.else")),
      _case("manifest_a_list", "error", _manifest([1, 2])),
      _case("manifest_invalid_json", "error",
            lambda e: (e / "fxs_jax_export.json").write_text("{oops")),
      # workdirs that hold no checkpoint
      _case("checkpoints_empty", "error", _empty_checkpoints),
      _case("checkpoint_junk", "error", _junk_checkpoint),
  ]
