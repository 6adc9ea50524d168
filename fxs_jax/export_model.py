"""``python -m fxs_jax.export_model WORKDIR OUT_DIR [--step=N] [--dtype=float16]``: a portable
copy of a trained generator (params + config + format version) that ``fxs_jax.load(OUT_DIR)`` reads
with no training state."""

import sys

from absl import app
from absl import flags

from fxs_jax import inference
from fxs_jax.errors import UserError

flags.DEFINE_integer("step", None, "Checkpoint step to export (default: the newest).")
flags.DEFINE_enum("dtype", "float32", inference.EXPORT_DTYPES,
                  "Storage of the floating arrays (float16: half the size, loaded as float32).")


def main(argv):
  if len(argv) != 3:
    raise app.UsageError("usage: python -m fxs_jax.export_model WORKDIR OUT_DIR [--step=N]")
  try:
    out = inference.export(argv[1], argv[2], flags.FLAGS.step, flags.FLAGS.dtype)
  except UserError as e:
    sys.exit(f"error: {e}")
  print(f"Exported {out} (load it with fxs_jax.load({str(out)!r})).")


if __name__ == "__main__":
  app.run(main)
