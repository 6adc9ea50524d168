"""Errors caused by the user's input (config, paths, data), reported in one line by ``main``;
the one check every number a user gives passes (:func:`check_number`, :func:`check_numbers`);
and the upper bounds that keep what a call holds in memory bounded, each stated in its error.

The video bounds come from measured peaks (``python -m fxs_jax.edit --animate=K`` with the
bundled GANimation, peak RSS from ``/usr/bin/time``): a video costs about 11.5 bytes per frame
pixel at its peak (the frames, the GIF writer's copies), 5.6 MB per 720 x 720 frame and 48.5 MB
per 2048 x 2048 frame, on top of 0.7-0.9 GB for JAX, the model and the photo. With at most
:data:`MAX_VIDEO_MEGAPIXELS` frame pixels (frames x (frame + faces x crop)), the largest allowed
calls peaked at 1.33 GB (300 frames of 512 x 512), 1.55 GB (191 frames of 720 x 720), 1.70 GB (35
frames of 2048 x 1380 from a 40 MP photo) and 1.77 GB (23 frames of 2048 x 2048).
"""

from __future__ import annotations

import errno
import math
import numbers
import os

import numpy as np

MAX_FRAMES = 300  # frames of one video: 25 s at 12 fps
MIN_FPS, MAX_FPS = 0.1, 60.0  # frames per second of a video
MIN_VIDEO_SIDE, MAX_VIDEO_SIDE = 32, 2048  # a video frame's longer side in pixels (max_side)
# frames x (frame pixels + faces x crop pixels) of one video, in millions: ~1.15 GB of frames.
MAX_VIDEO_MEGAPIXELS = 100.0
MAX_INTENSITY = 10.0  # GANimation's intensity: beyond, every AU above 0.5 is clipped to 5 anyway
# A converted GANimation export's image_size: one edit chunk (16 faces) of the paper's generator
# peaks at 1.3 GB at 128 px and 2.9 GB at 256 px (random weights, ru_maxrss).
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 256
MAX_MOTION_SAMPLES = 4096  # motions one MotionGAN sample_motion call draws
MAX_CROP_SIZE = 1024  # the face crops of ``python -m fxs_jax.faces.prepare --size``


class UserError(Exception):
  """A problem the user can fix; the message names the problem and the fix."""


class DatasetError(UserError):
  """A dataset folder is missing, incomplete or unreadable."""


class WorkdirError(UserError):
  """The work directory cannot be created or written."""


def _shown(value) -> str:
  """``value`` as the user wrote it, short: ``-1``, ``nan``, ``'abc'``."""
  if isinstance(value, (numbers.Real, np.number)) and not isinstance(value, bool):
    return format(float(value), "g") if isinstance(value, (float, np.floating)) else str(value)
  text = repr(value)
  return text if len(text) <= 40 else text[:37] + "..."


def _interval(low, high, low_open: bool, high_open: bool) -> str:
  left = "(" if low_open else "["
  right = ")" if high_open else "]"
  return f"{left}{low:g}, {high:g}{right}"


def _requirement(low, high, integer: bool, low_open: bool, high_open: bool,
                 meaning: str) -> str:
  kind = "an integer" if integer else "a finite number"
  subject = f"{meaning} " if meaning else ""
  return f"{subject}must be {kind} in {_interval(low, high, low_open, high_open)}"


def _message(head: str, requirement: str, fix: str) -> str:
  return f"{head}: {requirement}" + (f"; {fix}" if fix else "") + "."


def check_number(value, what: str, *, low: float, high: float, integer: bool = False,
                 low_open: bool = False, high_open: bool = False, meaning: str = "",
                 fix: str = ""):
  """``value`` as an ``int`` (``integer``) or a finite ``float`` in the interval from ``low`` to
  ``high`` (closed unless ``low_open`` / ``high_open``), else a :class:`UserError` of one line:
  ``{what}={value}: {meaning} must be a finite number in [low, high]; {fix}.`` (``what``: the
  argument or flag, ``--fps``; ``meaning``: what it is, "frames per second"; ``fix``: what to
  pass instead). Booleans and strings are not numbers; an integer may be given as 12.0."""
  requirement = _requirement(low, high, integer, low_open, high_open, meaning)
  fail = UserError(_message(f"{what}={_shown(value)}", requirement, fix))
  if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number)):
    raise fail
  number = float(value)
  if not math.isfinite(number) or (integer and not number.is_integer()):
    raise fail
  if number < low or number > high or (low_open and number == low) or (
      high_open and number == high):
    raise fail
  return int(value) if integer else number


def check_numbers(values, what: str, *, low: float, high: float, low_open: bool = False,
                  high_open: bool = False, meaning: str = "", fix: str = "") -> np.ndarray:
  """:func:`check_number` for an array (a value per example): ``values`` as float64 when every
  value is finite and in the interval, else a one-line :class:`UserError` naming the first bad
  value and its index."""
  requirement = _requirement(low, high, False, low_open, high_open, meaning)
  try:
    if np.iscomplexobj(values) or np.asarray(values).dtype == bool:
      raise TypeError("not real numbers")
    array = np.asarray(values, np.float64)
  except (TypeError, ValueError):
    raise UserError(_message(f"{what}={_shown(values)}", requirement, fix)) from None
  with np.errstate(invalid="ignore"):
    bad = ~np.isfinite(array) | (array < low) | (array > high)
    if low_open:
      bad |= array == low
    if high_open:
      bad |= array == high
  if not bad.any():
    return array
  if array.ndim == 0:
    raise UserError(_message(f"{what}={_shown(array.item())}", requirement, fix))
  index = tuple(int(i) for i in np.argwhere(bad)[0])
  where = index[0] if len(index) == 1 else index
  raise UserError(_message(f"{what}[{where}]={_shown(array[index].item())}",
                           requirement.replace("must be", "each must be", 1), fix))


def write_error(path, error: OSError) -> UserError:
  """What went wrong writing ``path`` (an ``OSError``), in one line with what to do."""
  if isinstance(error, PermissionError):
    why = "permission denied; choose a folder you can write to"
  elif isinstance(error, IsADirectoryError):
    why = "that is a folder; give a file name such as out.png"
  elif isinstance(error, (FileExistsError, NotADirectoryError)):  # from mkdir
    why = "a file stands where its folder should be; choose another path"
  elif error.errno is not None:
    why = f"{error.strerror or 'the system refused'}; check the disk and the folder"
  else:  # an encoder's own message
    why = f"{' '.join(str(error).split())}; try .png or .jpg"
  return UserError(f"{path}: cannot write it: {why}.")


def check_output_path(path, folder: bool = False) -> None:
  """Before any work: a one-line :class:`UserError` (as :func:`write_error` words it) unless
  ``path`` can be written: its nearest existing ancestor is a folder this process may create
  entries in, and ``path`` itself is not an existing folder (a file, unless ``folder``) or an
  existing file (a folder, with ``folder``). Root passes the permission test, as it passes
  the write itself."""
  path = os.path.abspath(os.fspath(path))
  if os.path.isdir(path) and not folder:
    raise write_error(path, IsADirectoryError(errno.EISDIR, "Is a directory"))
  if os.path.lexists(path) and not os.path.isdir(path) and folder:
    raise UserError(f"{path}: cannot write it: a file stands where the folder should be; choose "
                    "another path.")
  parent = os.path.dirname(path)
  while not os.path.lexists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise write_error(path, NotADirectoryError(errno.ENOTDIR, "Not a directory"))
  if os.path.isdir(path) and folder:
    parent = path
  if not os.access(parent, os.W_OK | os.X_OK):
    raise write_error(path, PermissionError(errno.EACCES, "Permission denied"))


def replace_atomically(path, write):
  """Calls ``write(temporary path)`` in ``path``'s folder (created if missing), then renames the
  result onto ``path``: a reader never sees a half-written file and a failed write leaves an
  earlier ``path`` as it was. An ``OSError`` becomes :func:`write_error`'s one line. Returns
  ``path``."""
  folder, name = os.path.split(os.path.abspath(os.fspath(path)))
  stem, suffix = os.path.splitext(name)
  tmp = os.path.join(folder, f".{stem}.{os.getpid()}.tmp{suffix}")
  try:
    os.makedirs(folder, exist_ok=True)
    write(tmp)
    os.replace(tmp, os.path.join(folder, name))
  except OSError as e:
    raise write_error(path, e) from e
  finally:
    if os.path.lexists(tmp):
      os.unlink(tmp)
  return path
