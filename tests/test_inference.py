"""fxs_jax.load / fxs_jax.export, the README's "In your own code" snippet, mismatched and
unreadable checkpoints, and checkpoints of the older one-item layout."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import fxs_jax
from configs import ganimation as ganimation_config
from fxs_jax import inference
from fxs_jax import run
from fxs_jax.data import synth_faces
from fxs_jax.errors import UserError
from fxs_jax.recipes.ganimation import GANimation
from fxs_jax.train import state as state_lib
from fxs_jax.train import trainer as trainer_lib
from fxs_jax.train.checkpoint import Checkpointer
from fxs_jax.train.checkpoint import CheckpointMismatch
from fxs_jax.train.checkpoint import UnreadableCheckpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, smoke_stills, tfds_dir):
  """GANimation ``:smoke`` trained 3 steps (a checkpoint after each) and its export."""
  del smoke_stills
  config = ganimation_config.get_config("smoke")
  config.data.data_dir = str(tfds_dir)
  config.num_train_steps = 3
  workdir = tmp_path_factory.mktemp("load") / "run"
  run.run(config, str(workdir), "train")
  export = fxs_jax.export(workdir, workdir.parent / "export")
  return config, workdir, export


def _faces(n, size):
  return np.stack([synth_faces.render(synth_faces.sample_identity(i), np.zeros(17), size)[0]
                   for i in range(n)])


def test_export_round_trip_gives_identical_edits(trained):
  config, workdir, export = trained
  from_workdir, from_export = fxs_jax.load(workdir), fxs_jax.load(export)
  assert from_workdir.step == from_export.step == 3
  assert json.loads((export / inference.MANIFEST).read_text())["version"] == 1
  faces = _faces(5, config.model.image_size)  # 5: two chunks of eval.batch_size 4
  a = from_workdir.edit(faces, emotion="happy", intensity=0.8)
  b = from_export.edit(faces, emotion="happy", intensity=0.8)
  assert a.dtype == np.uint8 and a.shape == faces.shape
  np.testing.assert_array_equal(a, b)
  # The prediction is the recipe's own edit: the generator applied in the test, by hand.
  recipe = GANimation(config)
  target = np.tile(synth_faces.emotion_aus("happy") * 0.8 / 5.0, (5, 1)).astype(np.float32)
  manual = recipe.edit(from_export.generator, (faces / 127.5 - 1.0).astype(np.float32), target)[0]
  np.testing.assert_allclose(from_export.predict("edit", {"image": faces / 127.5 - 1.0,
                                                          "target_aus": target})["image"],
                             np.asarray(manual), atol=1e-5)


def test_load_restores_only_the_generator(trained, monkeypatch):
  _, workdir, _ = trained
  restored = []
  original = Checkpointer.restore

  def spy(self, step, abstract_items, data_iter=None):
    restored.append(set(abstract_items))
    return original(self, step, abstract_items, data_iter)

  monkeypatch.setattr(Checkpointer, "restore", spy)
  model = fxs_jax.load(workdir, step=2)
  assert restored == [{state_lib.GENERATOR_ITEM}] and model.step == 2
  gen_only = sum(np.size(x) for x in jax.tree.leaves(model.params))
  assert gen_only == model.num_params() > 0


def test_readme_snippet_runs_from_outside_the_repository(trained, tmp_path):
  """The README's "In your own code" block as written, run with cwd outside the repository on
  the smoke workdir and on its export (the block's paths replaced by theirs)."""
  _, workdir, export = trained
  readme = (ROOT / "README.md").read_text()
  section = readme.split("In your own code", 1)[1]
  snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
  assert "fxs_jax.load(" in snippet and "configs" not in snippet
  env = dict(os.environ, PYTHONPATH="", JAX_PLATFORMS="cpu")
  for i, model_dir in enumerate((workdir, export)):
    code = (snippet.replace('"runs/ganimation_demo"', repr(str(model_dir)))
            .replace('"exports/ganimation_demo"', repr(str(tmp_path / f"exported{i}"))))
    cwd = tmp_path / f"elsewhere{i}"
    cwd.mkdir()
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / f"exported{i}" / inference.MANIFEST).exists()


def test_mismatched_architecture_names_first_parameter_and_both_shapes(trained, tmp_path):
  config, workdir, export = trained
  edited = tmp_path / "edited"
  shutil.copytree(export, edited)
  saved = json.loads((edited / "config.json").read_text())
  saved["model"]["gen_base_channels"] = 16
  (edited / "config.json").write_text(json.dumps(saved))
  with pytest.raises(CheckpointMismatch) as info:
    fxs_jax.load(edited)
  message = str(info.value)
  assert "\n" not in message
  first = re.search(r"first difference at '([^']+)' \(config: shape \(([\d, ]+)\); saved: shape "
                    r"\(([\d, ]+)\)\)", message)
  assert first, message
  # The first differing path in sorted order, with 16 vs 8 channels somewhere in its shape.
  assert "16" in first.group(2) and "8" in first.group(3)
  # Resuming training with another architecture stops the same way (nothing is moved aside).
  config2 = config.copy_and_resolve_references()
  config2.model.gen_base_channels = 16
  with pytest.raises(CheckpointMismatch, match="first difference at"):
    trainer_lib.load_latest(GANimation(config2), config2, workdir)
  assert not (workdir / "unreadable_checkpoints").exists()


def test_bad_paths_and_steps_are_one_line_errors(trained, tmp_path):
  _, workdir, export = trained
  for call, match in ((lambda: fxs_jax.load(tmp_path / "nothing"), "does not exist"),
                      (lambda: fxs_jax.load(tmp_path), "No checkpoint in .* train first"),
                      (lambda: fxs_jax.load(workdir, step=99), r"No checkpoint at step 99.*1, 2, 3"),
                      (lambda: fxs_jax.load(export, step=1), "export of one step"),
                      (lambda: fxs_jax.export(workdir, export), "not empty")):
    with pytest.raises(UserError, match=match) as info:
      call()
    assert "\n" not in str(info.value)


def test_truncated_newest_checkpoint(trained, tmp_path, capfd):
  """Files cut short (a copy interrupted, a half-synced disk): load and eval stop with a one-line
  error naming the step and the way out; training resumes from the newest readable checkpoint
  with a one-line warning and never deletes the bad one."""
  config, workdir, _ = trained
  run_dir = tmp_path / "run"
  shutil.copytree(workdir, run_dir)
  for path in (run_dir / "checkpoints" / "3").rglob("*"):
    if path.is_file() and path.stat().st_size > 1:
      os.truncate(path, path.stat().st_size // 2)
  with pytest.raises(UnreadableCheckpoint) as info:
    fxs_jax.load(run_dir)
  message = str(info.value)
  assert "\n" not in message and "step 3" in message and "step=2" in message
  assert fxs_jax.load(run_dir, step=2).step == 2  # the way out works
  capfd.readouterr()
  resumed = config.copy_and_resolve_references()
  resumed.num_train_steps = 4
  run.run(resumed, str(run_dir), "train")
  out, err = capfd.readouterr()
  warning = [line for line in out.splitlines() if line.startswith("Warning: skipped")]
  assert len(warning) == 1 and "step 3" in warning[0], out
  assert "Resumed the run from its checkpoint at step 2." in out
  assert "Traceback" not in err and "Event loop is closed" not in err, err[-2000:]
  kept = run_dir / "unreadable_checkpoints" / "3"
  assert kept.is_dir() and any(p.is_file() for p in kept.rglob("*"))
  steps = sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())
  assert steps[-1] == 4 and fxs_jax.load(run_dir).step == 4


def test_checkpoints_of_the_older_one_item_layout_still_load(trained, tmp_path):
  config, workdir, export = trained
  trainer, state, _ = trainer_lib.load_latest(GANimation(config), config, workdir)
  ckpt = Checkpointer(tmp_path / "old" / "checkpoints", config)
  ckpt.save(3, {state_lib.LEGACY_ITEM: state})  # the layout written before the generator item
  ckpt.close()
  old = fxs_jax.load(tmp_path / "old")
  faces = _faces(2, config.model.image_size)
  np.testing.assert_array_equal(old.edit(faces, emotion="sad"),
                                fxs_jax.load(export).edit(faces, emotion="sad"))
  del trainer
