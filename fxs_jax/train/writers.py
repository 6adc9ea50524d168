"""Where training reports go: TensorBoard event files, PNG sample grids, the console."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
from PIL import Image

from fxs_jax.errors import WorkdirError


def _cannot_write(path: Path, error: OSError) -> WorkdirError:
  return WorkdirError(
      f"Cannot write {path} ({error.strerror or error}): make {path.parent} writable or free "
      "disk space, then run the same command again (training resumes from its last checkpoint).")


class Writer:
  """TensorBoard scalars and images (``workdir/tb``), the same scalars as JSON lines
  (``workdir/metrics.jsonl``, easy to read back without TensorBoard) and PNGs in
  ``workdir/samples``.

  Only process 0 writes; on the others every call is a no-op.
  """

  def __init__(self, workdir: Path):
    self.enabled = jax.process_index() == 0
    self.samples_dir = Path(workdir) / "samples"
    self.metrics_path = Path(workdir) / "metrics.jsonl"
    self._tb = None
    if self.enabled:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      try:
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self._tb = SummaryWriter(str(Path(workdir) / "tb"))
      except OSError as e:
        raise _cannot_write(Path(e.filename or self.samples_dir), e) from e

  def scalars(self, step: int, values: dict[str, float]) -> None:
    if self.enabled:
      for name, value in values.items():
        self._tb.add_scalar(name, float(value), step)
      try:
        with self.metrics_path.open("a") as f:
          f.write(json.dumps({"step": step, **{k: float(v) for k, v in values.items()}}) + "\n")
      except OSError as e:
        raise _cannot_write(self.metrics_path, e) from e

  def image(self, step: int, name: str, img_HxWx3: np.ndarray, png_name: str | None = None,
            log: bool = True) -> Path | None:
    """Saves a uint8 image as ``samples/<png_name or name_step>.png`` and (``log``) logs it to
    TensorBoard."""
    if not self.enabled:
      return None
    img = np.asarray(img_HxWx3, np.uint8)
    if log:
      self._tb.add_image(name, img, step, dataformats="HWC")
    path = self.samples_dir / (png_name or f"{name.replace('/', '_')}_{step:07d}.png")
    try:
      Image.fromarray(img).save(path)
    except OSError as e:
      raise _cannot_write(path, e) from e
    return path

  def flush(self) -> None:
    if self.enabled:
      self._tb.flush()

  def close(self) -> None:
    if self.enabled:
      self._tb.close()
