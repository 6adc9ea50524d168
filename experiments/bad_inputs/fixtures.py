"""Inputs the bad-input cases share (built once per run into the fixtures folder) and the helpers
their setups use to damage copies of them inside a case's sandbox.

Nothing here imports JAX: the parent process builds the fixtures and runs the isolated cases.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "fxs_jax" / "pretrained" / "synthfaces"
TORCH_DATA = REPO / "tests" / "data" / "torch_ganimation"
DATASETS = REPO / "datasets"
BOMB_BYTES = 90 * 16 * 2**20  # 1.5 GB of zeros in one storage entry: about 1.4 MB deflated
_immutable: list[Path] = []  # folders made read-only (chattr +i) by this process's setups


def astronaut() -> np.ndarray:
  import skimage.data  # pylint: disable=import-outside-toplevel
  return skimage.data.astronaut()


def no_face(height: int = 200, width: int = 240) -> np.ndarray:
  ramp = np.linspace(40, 220, width, dtype=np.uint8)
  return np.stack([np.tile(ramp, (height, 1))] * 3, -1)


def png_bytes(image) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="PNG")
  return buffer.getvalue()


def zip_bomb(path: Path, source: Path = TORCH_DATA / "replicate_G.pth",
             size: int = BOMB_BYTES) -> Path:
  """A copy of the zip-format ``source`` .pth whose first storage entry inflates to ``size``
  bytes of zeros (its pickle still declares the small tensor)."""
  chunk = bytes(16 * 2**20)
  with zipfile.ZipFile(source) as archive:
    storage = next(n for n in archive.namelist() if "/data/" in n)
  with zipfile.ZipFile(source) as archive, zipfile.ZipFile(path, "w") as out:
    for info in archive.infolist():
      if info.filename != storage:
        out.writestr(info, archive.read(info.filename))
        continue
      big = zipfile.ZipInfo(storage)
      big.compress_type = zipfile.ZIP_DEFLATED
      with out.open(big, "w", force_zip64=True) as entry:
        for _ in range(size // len(chunk)):
          entry.write(chunk)
        entry.write(bytes(size % len(chunk)))
  return path


class Call:
  """Pickles as ``fn(*args)``: what a hostile checkpoint asks the unpickler to run."""

  def __init__(self, fn, *args):
    self.fn, self.args = fn, args

  def __reduce__(self):
    return self.fn, self.args


def foreign_pth(path: Path, payload) -> Path:
  """A zip-format .pth whose data.pkl calls ``payload`` (a ``Call``) when unpickled."""
  with zipfile.ZipFile(path, "w") as out:
    out.writestr("archive/data.pkl", pickle.dumps(payload, protocol=2))
    out.writestr("archive/byteorder", "little")
    out.writestr("archive/version", "3\n")
  return path


def flip_byte(path: Path, where: float = 0.5) -> Path:
  data = bytearray(path.read_bytes())
  data[int(len(data) * where)] ^= 0xFF
  path.write_bytes(bytes(data))
  return path


def flip_entry_byte(path: Path) -> Path:
  """The middle byte of the zip's largest entry's data flipped (its CRC no longer matches)."""
  data = bytearray(path.read_bytes())
  with zipfile.ZipFile(path) as archive:
    info = max(archive.infolist(), key=lambda i: i.compress_size)
  name_length, extra_length = int.from_bytes(data[info.header_offset + 26:][:2], "little"), \
      int.from_bytes(data[info.header_offset + 28:][:2], "little")
  start = info.header_offset + 30 + name_length + extra_length  # after the local header
  data[start + info.compress_size // 2] ^= 0xFF
  path.write_bytes(bytes(data))
  return path


def flip_directory_name(path: Path) -> Path:
  """A byte of the first name in the zip's central directory flipped: the directory and the
  entry's own header then disagree (a damaged archive, whatever reads it)."""
  data = bytearray(path.read_bytes())
  with zipfile.ZipFile(path) as archive:
    start = archive.start_dir
  entry = data.index(b"PK\x01\x02", start)
  data[entry + 46] ^= 0xFF  # the file name follows the 46-byte fixed part
  path.write_bytes(bytes(data))
  return path


def truncate(path: Path, fraction: float = 0.5) -> Path:
  data = path.read_bytes()
  path.write_bytes(data[:int(len(data) * fraction)])
  return path


def build(fx: Path) -> Path:
  """Writes the shared inputs into ``fx`` (a new folder) and returns it."""
  fx.mkdir(parents=True, exist_ok=True)
  photo = astronaut()
  Image.fromarray(photo).save(fx / "astro.png")
  Image.fromarray(photo).save(fx / "astro.jpg", quality=92)
  Image.fromarray(no_face()).save(fx / "noface.png")
  (fx / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
  (fx / "truncated.png").write_bytes(png_bytes(photo)[:4000])
  (fx / "empty.jpg").write_bytes(b"")
  (fx / "text.jpg").write_text("this is a text file, not a JPEG\n")
  Image.new("1", (20000, 20000)).save(fx / "bomb.png")  # 400 MP in a few kB
  (fx / "photos").mkdir()
  shutil.copy(fx / "astro.png", fx / "photos" / "astro.png")
  shutil.copy(fx / "noface.png", fx / "photos" / "wall.png")
  (fx / "no_images").mkdir()
  (fx / "no_images" / "notes.txt").write_text("no photos here")
  shutil.copytree(BUNDLED / "ganimation", fx / "export")
  for name in ("official_G.pth", "official_D.pth", "replicate_G.pth"):
    shutil.copy(TORCH_DATA / name, fx / name)
  zip_bomb(fx / "bomb.pth")
  (fx / "a_file").write_text("a file, not a folder\n")
  configs = fx / "configs"
  configs.mkdir()
  (configs / "syntax_error.py").write_text("def get_config(:\n")
  (configs / "raises.py").write_text("def get_config(arg=None):\n  raise RuntimeError('boom')\n")
  (configs / "not_a_config.py").write_text("x = 1\n")
  (configs / "returns_none.py").write_text("def get_config(arg=None):\n  return None\n")
  return fx


# ---- per-case helpers (inside a case's sandbox) ----------------------------------------------
def make_immutable(path: Path) -> Path:
  """``path`` (a folder) made unwritable even for root (chattr +i; chmod 555 without root)."""
  path.mkdir(parents=True, exist_ok=True)
  if os.geteuid() == 0:
    subprocess.run(["chattr", "+i", str(path)], check=True)
  else:
    path.chmod(0o555)
  _immutable.append(path)
  return path


def release(sandbox: Path) -> None:
  """Undoes :func:`make_immutable` for folders under ``sandbox`` (before it is removed)."""
  for path in [p for p in _immutable if p == sandbox or sandbox in p.parents]:
    if os.geteuid() == 0:
      subprocess.run(["chattr", "-i", str(path)], check=False)
    else:
      path.chmod(0o755)
    _immutable.remove(path)


def release_tree(path: Path) -> None:
  """Undoes every :func:`make_immutable` under ``path``, also those of a killed process."""
  if path.exists() and os.geteuid() == 0:
    subprocess.run(["chattr", "-R", "-i", str(path)], check=False, capture_output=True)


def export_copy(sb: Path, fx: Path, name: str = "export") -> Path:
  """A writable copy of the fixtures' export (the bundled GANimation) in the sandbox."""
  target = sb / name
  shutil.copytree(fx / "export", target)
  return target


def edit_json(path: Path, change) -> None:
  """``path`` rewritten as ``change(its JSON)`` (a value or a function of the old one)."""
  old = json.loads(path.read_text())
  path.write_text(json.dumps(change(old) if callable(change) else change))


def rewrite_npz(path: Path, change) -> None:
  """``params.npz`` rewritten as ``change({name: array})``."""
  with np.load(path) as arrays:
    saved = {n: arrays[n] for n in arrays.files}
  np.savez(path, **change(saved))


def manual_copy(sb: Path, name: str, sub: str = "") -> Path:
  """A writable copy of ``datasets/<name>/dummy_data[/sub]`` at ``sb/manual``."""
  target = sb / "manual"
  shutil.copytree(DATASETS / name / "dummy_data" / sub, target)
  return target
