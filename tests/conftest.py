"""Shared fixtures: every test writes datasets and workdirs under pytest's tmp dirs."""

import os
import shutil
import socket
import tempfile

import pytest

# JAX's persistent compilation cache, for this session and every subprocess it starts (they
# inherit os.environ): the suite compiles the same smoke train steps again and again, mostly in
# fresh driver / main / notebook processes, and XLA compiling dominates its time. The key covers
# the program, the devices and XLA_FLAGS, so a hit is the executable a compile would give. A
# fresh directory per session keeps entries from other checkouts or jax versions out. Set here,
# before anything imports jax: jax reads these variables once, when it is imported.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _SESSION_CACHE_DIR = tempfile.mkdtemp(prefix="fxs_jax_xla_cache_")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _SESSION_CACHE_DIR
else:
  _SESSION_CACHE_DIR = None  # the user's own cache: theirs to keep
# By default jax only caches programs that took >= 1 s to compile, and many smoke steps take less
# on CPU; no size threshold either (0 is jax's default today; pinned so a later default cannot
# quietly skip the small entries).
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.3")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# The suite's steps are tiny, so what XLA spends is compiling them, not running them: LLVM's
# lowest optimisation level halves the compile time of a smoke train step. What it changes in
# results: reductions accumulate in order instead of in vectorised partial sums, so a float32
# mean of 10^4 values can move by ~1e-5 (relative). Subprocesses inherit the flags; a test giving
# a subprocess simulated devices keeps them (devices_env).
FAST_COMPILE_FLAGS = "--xla_backend_optimization_level=0"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE_FLAGS}".strip()
_DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def pytest_sessionfinish(session, exitstatus):
  del session, exitstatus
  if _SESSION_CACHE_DIR:
    shutil.rmtree(_SESSION_CACHE_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def devices_env():
  """``devices_env(n, **variables)``: ``os.environ`` for a subprocess on the CPU with ``n``
  simulated devices (``None``: JAX's default, one), the suite's other XLA flags kept, and
  ``variables`` set."""

  def env(devices: int | None, **variables) -> dict[str, str]:
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
             if not f.startswith(_DEVICE_COUNT_FLAG)]
    if devices is not None:
      flags.append(f"{_DEVICE_COUNT_FLAG}={devices}")
    return dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=" ".join(flags), **variables)

  return env


@pytest.fixture(scope="session")
def free_coordinator():
  """``free_coordinator()``: ``127.0.0.1:PORT`` with a free port, for processes to meet at."""

  def address() -> str:
    with socket.socket() as s:
      s.bind(("127.0.0.1", 0))
      return f"127.0.0.1:{s.getsockname()[1]}"

  return address


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
  """A TFDS data_dir shared by the session (tiny datasets are built once)."""
  return tmp_path_factory.mktemp("tensorflow_datasets")


@pytest.fixture(scope="session")
def smoke_stills(tfds_dir):
  """The built ``synth_faces/stills_smoke`` dataset's builder."""
  from fxs_jax.data import builders
  return builders.prepare("synth_faces/stills_smoke", str(tfds_dir))


@pytest.fixture
def smoke_config(tfds_dir):
  """``make(config_module, **overrides)``: the module's ``:smoke`` config on the session's data
  dir, with ``"section.key"`` (or top-level ``key``) overrides."""

  def make(module, **overrides):
    config = module.get_config("smoke")
    config.data.data_dir = str(tfds_dir)
    for key, value in overrides.items():
      section, _, name = key.rpartition(".")
      (config[section] if section else config)[name] = value
    return config

  return make
