"""The Python API's numeric inputs as cases: ``model.edit``, ``model.edit_photo`` and
``model.animate_photo`` on the bundled GANimation, called in the worker or, for the calls whose
memory is at stake, as ``python -m experiments.bad_inputs.api_calls NAME VALUE`` (its own
process; a ``UserError`` is one line on stderr and exit status 1, like the CLIs)."""

from __future__ import annotations

import functools
import sys

MODEL = "synthfaces/ganimation"


@functools.cache
def _model():
  import fxs_jax  # pylint: disable=import-outside-toplevel
  return fxs_jax.load(MODEL)


@functools.cache
def _photo():
  import skimage.data  # pylint: disable=import-outside-toplevel
  return skimage.data.astronaut()


def edit(intensity: float):
  """``model.edit`` of a batch of two aligned faces (the sample faces' size) at ``intensity``."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  model = _model()
  size = model.config.model.image_size
  faces = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
  return model.edit(faces, emotion="happy", intensity=intensity)


def edit_photo(intensity: float):
  return _model().edit_photo(_photo(), emotion="happy", intensity=intensity)


def animate_photo(frames, max_side=None, fps=None):
  kwargs = {"frames": frames}
  if max_side is not None:
    kwargs["max_side"] = max_side
  if fps is not None:
    kwargs["fps"] = fps
  return _model().animate_photo(_photo(), emotion="happy", **kwargs)


CALLS = {"edit": lambda v: edit(float(v)), "edit_photo": lambda v: edit_photo(float(v)),
         "animate_frames": lambda v: animate_photo(int(v)),
         "animate_max_side": lambda v: animate_photo(3, max_side=int(v)),
         "animate_fps": lambda v: animate_photo(3, fps=float(v))}


def main(argv) -> int:
  from fxs_jax.errors import UserError  # pylint: disable=import-outside-toplevel
  name, value = argv
  try:
    CALLS[name](value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(f"{name}({value}) returned")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
