"""Every limit of the editor in one place: what a request may send, and what the server keeps.

Memory: everything the editor keeps between requests (uploaded photos decoded, their previews
and aligned faces, the sample faces, results with their crops, video frames and encoded
downloads, thumbnails) is counted in one budget, ``memory_mb``, and the least recently used
goes first (``store.KeptStore``). A request in flight holds at most its upload (``max_upload_mb``)
and a decoded copy or two of it (3 bytes per pixel, ``max_megapixels``) besides; at most
``uploads_at_once`` uploads are read and decoded at a time. So the editor's memory is its models
and compiled code plus about ``memory_mb + uploads_at_once * (max_upload_mb + 2 * 3 *
max_megapixels)`` MB at most.
"""

from __future__ import annotations

import dataclasses
import math

from fxs_jax.errors import UserError

BYTES_PER_PIXEL = 3  # photos are kept as uint8 RGB


@dataclasses.dataclass(frozen=True)
class Limits:
  """The editor's limits (``python -m fxs_jax.serve`` has a flag for each of the first five)."""

  timeout: float = 30.0  # seconds a request may take, queueing included
  max_upload_mb: float = 20.0  # an uploaded file's size
  max_megapixels: float = 16.0  # an uploaded photo's pixels (a 4,900 x 3,300 photo)
  memory_mb: float = 1024.0  # everything kept between requests, least recently used out first
  uploads_at_once: int = 2  # uploads read and decoded at the same time; others wait their turn
  max_photos: int = 32  # photos kept (uploads and samples)
  max_results: int = 24  # edits and videos kept for download
  max_json_kb: float = 64.0  # an edit or play request's body
  max_json_depth: int = 4  # its nesting (an object of lists is 2)
  max_text: int = 1024  # characters of a text field (a model's name may be a path)

  def __post_init__(self):
    flags = {"timeout": "seconds a request may take", "max_upload_mb": "MB an upload may have",
             "max_megapixels": "megapixels a photo may have",
             "memory_mb": "MB the editor may keep", "max_json_kb": "kB a request may have"}
    for name, meaning in flags.items():
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
          math.isfinite(value) and value > 0):
        raise UserError(f"--{name}={value!r}: the {meaning} must be a finite number > 0; pass "
                        f"e.g. --{name}={getattr(Limits, name):g}.")
    for name in ("uploads_at_once", "max_photos", "max_results", "max_json_depth", "max_text"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{name}={value!r}: must be an integer >= 1.")
    if self.memory_bytes < 4 * self.max_photo_bytes:
      raise UserError(
          f"--memory_mb={self.memory_mb:g}: the editor must be able to keep four of the largest "
          f"photos it accepts (--max_megapixels={self.max_megapixels:g}: "
          f"{self.max_photo_bytes / 2**20:.0f} MB each decoded), so at least "
          f"{math.ceil(4 * self.max_photo_bytes / 2**20)} MB; raise --memory_mb or lower "
          "--max_megapixels.")

  @property
  def memory_bytes(self) -> int:
    return int(self.memory_mb * 2**20)

  @property
  def max_upload_bytes(self) -> int:
    return int(self.max_upload_mb * 2**20)

  @property
  def max_json_bytes(self) -> int:
    return int(self.max_json_kb * 1024)

  @property
  def max_photo_bytes(self) -> int:
    """The largest decoded photo the editor accepts, in bytes."""
    return int(self.max_megapixels * 1e6 * BYTES_PER_PIXEL)

  def describe(self) -> dict:
    """The limits the page shows (``/api/info``)."""
    return {"max_upload_mb": self.max_upload_mb, "max_megapixels": self.max_megapixels,
            "timeout_s": self.timeout, "memory_mb": self.memory_mb}
