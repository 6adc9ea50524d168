"""Command line: ``python -m fxs_jax.main --config=configs/ganimation.py:demo --workdir=runs/demo``.

Flags only; the work is done by ``fxs_jax.run.run`` (importable, e.g. from a notebook). The config
file is loaded by path from any directory; the folder holding its ``configs/`` goes on
``sys.path`` (model configs import ``configs.common``). Several hosts: the same command on each,
plus ``--coordinator_address=HOST0:PORT --num_processes=N --process_id=I`` (or nothing extra under
SLURM / Open MPI / a TPU pod), one shared ``--workdir``.
"""

import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from fxs_jax import config_upgrade
from fxs_jax import envtune
from fxs_jax import provenance
from fxs_jax import run
from fxs_jax import sharding
from fxs_jax.errors import UserError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Config file, optionally with variants: configs/ganimation.py:demo",
    lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and samples.")
flags.DEFINE_enum("mode", "train", run.MODES, "What to do with the config.")
flags.DEFINE_integer("step", None, "eval / generate: the checkpoint step to use (default: the "
                     "newest).")
flags.DEFINE_enum("split", None, list(run.SPLITS),
                  "eval / generate: the split to read (default config.data.eval_split, i.e. "
                  "validation, where choices are made); --split=test to report.")
flags.DEFINE_string("coordinator_address", None,
                    "Several processes: HOST:PORT of process 0 (same on every process).")
flags.DEFINE_integer("num_processes", None, "Several processes: how many in all.")
flags.DEFINE_integer("process_id", None, "Several processes: this one's number, 0..N-1.")
flags.DEFINE_enum("distributed", "auto", ["auto", "on", "off"],
                  "Join a multi-process job: auto = when the three flags above are given or the "
                  "environment is a multi-process launch (SLURM srun, Open MPI, TPU pod, "
                  "JAX_COORDINATOR_ADDRESS); on = always (JAX detects the cluster); off = never.")
flags.mark_flags_as_required(["config", "workdir"])



def _one_line(error: BaseException) -> str:
  """The gist of a config/flag error (ml_collections nests messages and tracebacks in them)."""
  text = str(error).replace("\\n", "\n").replace("\\'", "'")
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  lines = [l[1:-1] if len(l) > 1 and l[0] == l[-1] and l[0] in "'\"" else l for l in lines]
  if isinstance(error, OSError) or any(line.startswith("Traceback") for line in lines):
    lines = lines[-1:]  # the exception that stopped the config file
  return " ".join(lines) or type(error).__name__


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with config errors (typo in a key, bad value, unknown variant, missing
  file) reported in one line instead of a traceback."""
  for root in config_upgrade.config_roots(argv):
    if str(root) not in sys.path:
      sys.path.insert(1, str(root))
  try:
    rest = FLAGS(argv)
    FLAGS.config.keys()  # a config file that failed to load raises on first access
  except (AttributeError, KeyError) as e:  # ml_collections: no such key in a locked config
    sys.exit(f"error: unknown config key: {_one_line(e).replace(chr(39), '')}")
  except Exception as e:  # pylint: disable=broad-except
    sys.exit(f"error: bad flags or config: {_one_line(e)}")
  return rest


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS["verbosity"].present:
    # Library logs (TFDS, Orbax) would bury the console output; --verbosity=0 shows them.
    logging.set_verbosity(logging.ERROR)
  try:
    # glibc malloc tuned for XLA:CPU (config.compute.malloc): re-executes this command once with
    # GLIBC_TUNABLES set, before any backend starts. FXS_NO_REEXEC=1 opts out.
    envtune.reexec_with_tuned_malloc(envtune.malloc_choice(FLAGS.config))
  except ValueError as e:
    sys.exit(f"error: {e}")
  try:
    sharding.initialize_processes(FLAGS.coordinator_address, FLAGS.num_processes,
                                  FLAGS.process_id, FLAGS.distributed)
    record = provenance.record(FLAGS.config, config_flags.get_config_filename(FLAGS["config"]),
                               config_flags.get_override_values(FLAGS["config"]))
    run.run(FLAGS.config, FLAGS.workdir, FLAGS.mode, FLAGS.step, FLAGS.split, record)
  except UserError as e:
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
