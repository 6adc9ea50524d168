"""Damaged and hostile files the product reads (``.pth`` zips and legacy files, exports,
checkpoints) and folders it cannot write: each a one-line ``UserError`` naming the file, the
problem and the fix, in bounded memory, with nothing deleted or changed."""

import hashlib
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import jax
import numpy as np
import pytest
from PIL import Image

import fxs_jax
from configs import ganimation as ganimation_config
from fxs_jax import inference
from fxs_jax.errors import UserError
from fxs_jax.errors import WorkdirError
from fxs_jax.eval import torch_checkpoint
from fxs_jax.train import checkpoint
from fxs_jax.train import state as state_lib
from fxs_jax.train.checkpoint import Checkpointer
from fxs_jax.train.checkpoint import UnreadableCheckpoint
from fxs_jax.train.writers import Writer

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "fxs_jax" / "pretrained" / "synthfaces" / "ganimation"


def _one_line(error_info, *words) -> str:
  message = str(error_info.value)
  assert "\n" not in message and "Traceback" not in message, message
  for word in words:
    assert word in message, (word, message)
  return message


def _snapshot(folder: Path) -> dict[str, str]:
  """Every file under ``folder`` and its content hash: the oracle for "nothing changed"."""
  return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
          for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- .pth files, written from the format (no torch) -------------------------------------------
def _text(s: str) -> bytes:
  return b"X" + struct.pack("<I", len(s)) + s.encode()


def _long(v: int) -> bytes:
  return b"\x8a\x08" + struct.pack("<q", v)


def _state_dict_pickle(numel: int, key: str = "0", module: str = "torch") -> bytes:
  """data.pkl of ``torch.save({"w": tensor})`` (protocol 2): one float32 tensor of ``numel``
  elements on storage ``key``."""
  storage = (b"(" + _text("storage") + f"c{module}\nFloatStorage\n".encode() + _text(key)
             + _text("cpu") + _long(numel) + b"tQ")
  return (b"\x80\x02ccollections\nOrderedDict\n)R(" + _text("w")
          + b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + b"J\0\0\0\0"
          + b"(" + _long(numel) + b"t(" + _long(1) + b"t\x89ccollections\nOrderedDict\n)RtR"
          + b"u.")


def _write_pth(path: Path, numel: int, stored_bytes: int, names=None) -> Path:
  """A zip ``.pth`` whose storage ``data/0`` holds ``stored_bytes`` zeros (deflated: a few KB
  per 10 MB) while the pickle says ``numel`` float32 elements."""
  names = names or {"pickle": "archive/data.pkl", "storage": "archive/data/0"}
  with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
    archive.writestr(names["pickle"], _state_dict_pickle(numel))
    archive.writestr("archive/byteorder", "little")
    with archive.open(names["storage"], "w", force_zip64=True) as f:
      for start in range(0, stored_bytes, 1 << 22):
        f.write(bytes(min(1 << 22, stored_bytes - start)))
  return path


def _read_with_peak(path) -> tuple[pytest.ExceptionInfo, int]:
  tracemalloc.start()
  try:
    with pytest.raises(UserError) as info:
      torch_checkpoint.read_state_dict(path)
    return info, tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()


def test_honest_pth_reads_back_its_zeros(tmp_path):
  path = _write_pth(tmp_path / "ok.pth", numel=1000, stored_bytes=4000)
  state = torch_checkpoint.read_state_dict(path)
  assert list(state) == ["w"] and state["w"].shape == (1000,) and not state["w"].any()


def test_zip_bomb_storage_fails_before_inflating(tmp_path):
  """50 MB of zeros (about 50 KB on disk) where the pickle says 16 bytes: refused from the
  declared size, with Python's allocations staying under 2 MB."""
  bomb = _write_pth(tmp_path / "bomb.pth", numel=4, stored_bytes=50 << 20)
  assert bomb.stat().st_size < 1 << 20
  info, peak = _read_with_peak(bomb)
  _one_line(info, str(bomb), "archive/data/0", str(50 << 20), "4 x 4 = 16")
  assert peak < 2 << 20, peak


def test_declared_total_over_the_cap_fails_before_inflating(tmp_path, monkeypatch):
  """Consistent sizes, but more than a state_dict may hold (the cap lowered to 1 MiB here, so
  the file stays small; the real cap is 1 GiB)."""
  monkeypatch.setattr(torch_checkpoint, "MAX_STATE_DICT_BYTES", 1 << 20)
  big = _write_pth(tmp_path / "big.pth", numel=1 << 20, stored_bytes=4 << 20)
  info, peak = _read_with_peak(big)
  _one_line(info, str(big), "more than 1 MiB")
  assert peak < 1 << 20, peak


@pytest.mark.parametrize("names,words", [
    ({"pickle": "archive/data.pkl", "storage": "archive/data/../../0"}, "not a plain relative"),
    ({"pickle": "archive/data.pkl", "storage": "/archive/data/0"}, "not a plain relative"),
    ({"pickle": "archive/data.pkl", "storage": "other/data/0"}, "outside the archive's folder"),
    ({"pickle": "archive/data.pkl", "storage": "archive/data/1"}, "has no 'archive/data/0'"),
    ({"pickle": "a/b/data.pkl", "storage": "a/b/data/0"}, "one data.pkl at the top"),
])
def test_zip_entry_names_are_checked(tmp_path, names, words):
  path = _write_pth(tmp_path / "names.pth", numel=4, stored_bytes=16, names=names)
  info, _ = _read_with_peak(path)
  _one_line(info, str(path), words)


def test_storage_shorter_than_declared_and_oversized_pickle(tmp_path, monkeypatch):
  short = _write_pth(tmp_path / "short.pth", numel=100, stored_bytes=40)
  _one_line(_read_with_peak(short)[0], "holds 40 bytes", "runs past its storage")
  monkeypatch.setattr(torch_checkpoint, "MAX_PICKLE_BYTES", 64)
  ok = _write_pth(tmp_path / "ok.pth", numel=4, stored_bytes=16)
  _one_line(_read_with_peak(ok)[0], "data.pkl declares", "more than")


def test_legacy_file_declaring_more_than_it_holds_fails_before_allocating(tmp_path):
  """torch < 1.6: a storage's element count (here 10^12, 4 TB) is checked against the bytes
  left in the file before anything is allocated."""
  numel = 10**12
  path = tmp_path / "legacy.pth"
  with open(path, "wb") as f:  # magic number, protocol version, system info, the state_dict,
    for header in (0x1950a86a20f9469cfc6c, 1001, {"little_endian": True}):  # its storage keys
      f.write(pickle.dumps(header, protocol=2))
    f.write(_state_dict_pickle(numel) + pickle.dumps(["0"], protocol=2))
    f.write(struct.pack("<q", numel) + bytes(64))  # then each storage: its count, its bytes
  info, peak = _read_with_peak(path)
  _one_line(info, str(path), "truncated or damaged", f"{numel} elements")
  assert peak < 1 << 20, peak


# ---- exports ---------------------------------------------------------------------------------
def _cut(path: Path) -> None:
  path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def _flip(path: Path) -> None:
  data = bytearray(path.read_bytes())
  data[len(data) // 2] ^= 0xFF
  path.write_bytes(bytes(data))


def _edit_json(**changes):
  def change(path: Path) -> None:
    document = json.loads(path.read_text())
    for key, value in changes.items():
      if value is None:
        del document[key]
      else:
        document[key] = value
    path.write_text(json.dumps(document))
  return change


EXPORT_CASES = {  # file, damage, words of the message
    "params cut short": ("params.npz", _cut, ["params.npz", "damaged", "BadZipFile"]),
    "params flipped byte": ("params.npz", _flip, ["params.npz", "Bad CRC-32"]),
    "params empty": ("params.npz", lambda p: p.write_bytes(b""), ["params.npz", "damaged"]),
    "config a list": ("config.json", lambda p: p.write_text("[1, 2]"),
                      ["config.json", "a list, not an object"]),
    "config a number": ("config.json", lambda p: p.write_text("3"),
                        ["config.json", "an integer, not an object"]),
    "config model 3": ("config.json", lambda p: p.write_text('{"model": 3}'),
                       ["config.json", "'model_name' is missing"]),
    "config nested": ("config.json", lambda p: p.write_text("[" * 100000),
                      ["config.json", "cannot be read as JSON"]),
    "config image_size negative": (
        "config.json", lambda p: p.write_text(p.read_text().replace('"image_size": 64',
                                                                    '"image_size": -64')),
        ["config.json", "model.image_size=-64"]),
    "version a string": ("fxs_jax_export.json", _edit_json(version="abc"),
                         ["fxs_jax_export.json", "'version' is a string"]),
    "version 0": ("fxs_jax_export.json", _edit_json(version=0),
                  ["fxs_jax_export.json", "format version 0"]),
    "no step": ("fxs_jax_export.json", _edit_json(step=None),
                ["fxs_jax_export.json", "'step' is missing"]),
    "manifest a list": ("fxs_jax_export.json", lambda p: p.write_text("[]"),
                        ["fxs_jax_export.json", "a list, not an object"]),
}


@pytest.mark.parametrize("case", sorted(EXPORT_CASES))
def test_damaged_export_is_one_line_naming_file_and_fix(tmp_path, case):
  name, damage, words = EXPORT_CASES[case]
  export = shutil.copytree(BUNDLED, tmp_path / "export")
  damage(export / name)
  before = _snapshot(export)
  with pytest.raises(UserError) as info:
    fxs_jax.load(export)
  _one_line(info, str(export), *words)
  assert "export it again" in str(info.value)
  assert _snapshot(export) == before  # nothing deleted or rewritten


def test_fix_names_the_workdir_an_export_came_from(tmp_path):
  workdir = tmp_path / "run"
  (workdir / "checkpoints").mkdir(parents=True)
  export = shutil.copytree(BUNDLED, tmp_path / "export")
  _edit_json(exported_from=str(workdir))(export / inference.MANIFEST)
  _flip(export / "params.npz")
  with pytest.raises(UserError) as info:
    fxs_jax.load(export)
  _one_line(info, f"python -m fxs_jax.export_model {workdir} NEW_DIR")
  assert "reinstall fxs_jax" in inference._export_fix(BUNDLED)  # pylint: disable=protected-access


def test_edit_cli_prints_one_line_for_a_damaged_export(tmp_path):
  export = shutil.copytree(BUNDLED, tmp_path / "export")
  _cut(export / "params.npz")
  Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "face.png")
  done = subprocess.run(
      [sys.executable, "-m", "fxs_jax.edit", str(tmp_path / "face.png"), f"--model={export}",
       "--emotion=happy", f"--out={tmp_path / 'out.png'}"],
      cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True, text=True,
      timeout=300, check=False)
  assert done.returncode != 0
  lines = [line for line in done.stderr.splitlines() if line.strip()]
  assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr[-2000:]
  assert "params.npz" in lines[0] and "export it again" in lines[0]
  assert not (tmp_path / "out.png").exists()


# ---- checkpoints -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory):
  """A workdir holding the ``:smoke`` GANimation generator's item at steps 1 and 2, as a
  training run saves it (constant weights: no initialiser or training needed to damage one)."""
  config = ganimation_config.get_config("smoke")
  _, abstract = inference.abstract_generator(inference.recipe_for(config))
  item = jax.tree.map(lambda leaf: np.full(leaf.shape, 0.01, leaf.dtype), abstract)
  workdir = tmp_path_factory.mktemp("ckpt") / "run"
  ckpt = Checkpointer(workdir / "checkpoints", config)
  for step in (1, 2):
    ckpt.save(step, {state_lib.GENERATOR_ITEM: item})
  ckpt.close()
  return config, workdir


def _items_at_step_2(config, directory: Path) -> dict:
  abstract = inference.abstract_generator(inference.recipe_for(config))[1]
  return Checkpointer.load(directory, 2, lambda c, s: {state_lib.GENERATOR_ITEM: abstract})[0]


@pytest.mark.parametrize("text,words", [
    ("[1, 2]", "a list, not an object"), ("3", "an integer, not an object"),
    ('{"model": 3}', "'model_name' is missing"), ('{"mod', "cannot be read"),
    ('{"model_name": "ganimation", "model": {}, "data": {}, "eval": {"batch_size": 4}}',
     "does not describe a ganimation model")])
def test_checkpoint_config_of_the_wrong_shape(tiny_checkpoints, tmp_path, text, words):
  _, source = tiny_checkpoints
  workdir = shutil.copytree(source, tmp_path / "run")
  (workdir / "checkpoints" / "2" / "config" / "metadata").write_text(text)
  before = _snapshot(workdir)
  with pytest.raises(UnreadableCheckpoint) as info:
    fxs_jax.load(workdir)
  _one_line(info, "step 2", words, "step=1")
  assert _snapshot(workdir) == before
  assert fxs_jax.load(workdir, step=1).step == 1  # the way out works


def test_checkpoint_folder_turned_into_a_file_mid_run(tiny_checkpoints, tmp_path):
  """A save into a folder that cannot be written (here: replaced by a file, which also stops
  root) fails at once in one line; the checkpoint saved before it is intact."""
  config, source = tiny_checkpoints
  workdir = shutil.copytree(source, tmp_path / "run")
  directory = workdir / "checkpoints"
  ckpt = Checkpointer(directory, config)
  items = _items_at_step_2(config, directory)
  directory.rename(workdir / "moved")
  directory.write_text("not a folder")
  with pytest.raises(WorkdirError) as info:
    ckpt.save(3, items)
  _one_line(info, f"Cannot save the checkpoint at step 3 in {directory}", "Not a directory",
            "writable")
  ckpt.close_after_failure()
  directory.unlink()
  (workdir / "moved").rename(directory)
  assert sorted(p.name for p in directory.iterdir()) == ["1", "2"]
  assert fxs_jax.load(workdir).step == 2


def test_export_to_a_path_under_a_file_writes_nothing(tiny_checkpoints, tmp_path):
  _, workdir = tiny_checkpoints
  (tmp_path / "file").write_text("x")
  with pytest.raises(UserError) as info:
    fxs_jax.export(workdir, tmp_path / "file" / "export")
  _one_line(info, str(tmp_path / "file" / "export"), "cannot write it")
  assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
  out = fxs_jax.export(workdir, tmp_path / "new" / "export")  # and a good path still works
  assert fxs_jax.load(out).step == 2 and sorted(p.name for p in out.parent.iterdir()) == [
      "export"]


def test_full_disk_is_refused_before_a_save_starts(tiny_checkpoints, tmp_path, monkeypatch):
  config, source = tiny_checkpoints
  workdir = shutil.copytree(source, tmp_path / "run")
  ckpt = Checkpointer(workdir / "checkpoints", config)
  items = _items_at_step_2(config, workdir / "checkpoints")
  free = shutil.disk_usage(tmp_path)._replace(free=100_000)
  monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda path: free)
  with pytest.raises(WorkdirError) as info:
    ckpt.save(3, items)
  _one_line(info, "step 3", "MiB and the disk has 0.1 MiB free", "checkpoint.keep",
            "step 2 is kept")
  ckpt.close()
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["1", "2"]


def test_checkpoints_under_a_file_and_unwritable_metrics(tmp_path):
  (tmp_path / "file").write_text("x")
  with pytest.raises(WorkdirError) as info:
    Checkpointer(tmp_path / "file" / "checkpoints", keep=1)
  _one_line(info, str(tmp_path / "file" / "checkpoints"), "writable folder")
  writer = Writer(tmp_path / "run")
  (tmp_path / "run" / "metrics.jsonl").mkdir()
  with pytest.raises(WorkdirError) as info:
    writer.scalars(1, {"loss": 1.0})
  _one_line(info, "metrics.jsonl", "resumes")
  writer.close()
