"""One writer per workdir: a second run stops at its start naming the holder, without writing;
a lock left by a killed run is taken over; the lock goes at the end of a run, errors included."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from configs import ganimation as ganimation_config
from fxs_jax import run
from fxs_jax.errors import UserError
from fxs_jax.train import workdir_lock
from fxs_jax.train.workdir_lock import WorkdirBusy
from fxs_jax.train.workdir_lock import WorkdirLock

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys, time
from fxs_jax.train.workdir_lock import WorkdirLock
WorkdirLock(sys.argv[1], "train").acquire()
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def holder(tmp_path):
  """A live child process holding ``tmp_path / "run"``'s lock (as a training run would)."""
  workdir = tmp_path / "run"
  workdir.mkdir()
  child = subprocess.Popen([sys.executable, "-c", HOLDER, str(workdir)], cwd=ROOT,
                           stdout=subprocess.PIPE, text=True,
                           env={**os.environ, "JAX_PLATFORMS": "cpu"})
  try:
    assert child.stdout.readline().strip() == "held"
    yield workdir, child
  finally:
    child.kill()
    child.wait()
    child.stdout.close()


def test_second_run_stops_at_start_naming_the_holder(holder, smoke_config):
  workdir, child = holder
  (workdir / "metrics.jsonl").write_text('{"step": 10, "critic/loss": 1.5}\n')
  (workdir / "config.json").write_text('{"the first run": "its config"}')
  (workdir / "checkpoints" / "10").mkdir(parents=True)  # what eval and generate look for first
  before = sorted(workdir.rglob("*"))
  for mode in ("train", "eval", "generate"):  # eval writes eval.json, generate its images
    with pytest.raises(WorkdirBusy) as info:
      run.run(smoke_config(ganimation_config), str(workdir), mode)
    message = str(info.value)
    assert "\n" not in message
    for words in (f"{workdir} is in use by another run", f"pid {child.pid}",
                  f"on {socket.gethostname()}", "(train, since", str(workdir / "workdir.lock"),
                  f"Wait for it to finish or stop it (kill {child.pid})", "another --workdir"):
      assert words in message, (mode, words, message)
    assert sorted(workdir.rglob("*")) == before  # nothing written
    assert (workdir / "metrics.jsonl").read_text() == '{"step": 10, "critic/loss": 1.5}\n'
    assert (workdir / "config.json").read_text() == '{"the first run": "its config"}'
  assert child.poll() is None  # and the holder runs on


def test_lock_of_a_killed_run_is_taken_over(holder, capsys):
  workdir, child = holder
  child.send_signal(signal.SIGKILL)
  child.wait()
  assert (workdir / "workdir.lock").read_text()  # the dead run's record is still there
  with workdir_lock.hold(workdir, "eval") as lock:
    assert lock.held and f"pid {child.pid}" in lock.took_over
    assert f"pid {os.getpid()}" in workdir_lock._holder(lock.path)[0]  # pylint: disable=protected-access
  out = capsys.readouterr().out
  assert f"Took over {workdir / 'workdir.lock'}" in out and f"pid {child.pid}" in out
  assert not (workdir / "workdir.lock").exists()  # released: a clean end leaves no file


def test_released_on_exceptions_and_exclusive_within_one_process(tmp_path):
  with pytest.raises(RuntimeError, match="boom"):
    with workdir_lock.hold(tmp_path, "train"):
      with pytest.raises(WorkdirBusy, match=f"pid {os.getpid()} on"):
        WorkdirLock(tmp_path).acquire()  # a second open of the file conflicts, even here
      raise RuntimeError("boom")
  assert not (tmp_path / "workdir.lock").exists()
  again = WorkdirLock(tmp_path)
  again.acquire()
  assert again.held and again.took_over is None  # the earlier holder released it cleanly
  again.release()
  assert not again.held and not (tmp_path / "workdir.lock").exists()


@pytest.mark.parametrize("overrides,mode,words", [
    ({"optim.lr": float("nan")}, "train", "--config.optim.lr=nan: the learning rate must be"),
    ({"data.batch_size": 10**9}, "train", "--config.data.batch_size=1000000000"),
    ({"checkpoint.keep": -1}, "train", "--config.checkpoint.keep=-1"),
    ({"num_train_steps": -5}, "train", "--config.num_train_steps=-5"),
    ({"model.image_size": 0}, "train", "--config.model.image_size=0"),
    ({"data.name": "nope/x"}, "train", "nope"),  # fails once the lock is taken: still nothing
    ({}, "eval", "No checkpoint in"),
    ({}, "generate", "No checkpoint in"),
])
def test_a_run_that_stops_at_its_start_writes_nothing(tmp_path, smoke_config, overrides, mode,
                                                      words):
  workdir = tmp_path / "new"
  with pytest.raises(UserError) as info:
    run.run(smoke_config(ganimation_config, **overrides), str(workdir), mode)
  assert "\n" not in str(info.value) and words in str(info.value), str(info.value)
  assert not workdir.exists()
  (tmp_path / "old").mkdir()
  (tmp_path / "old" / "metrics.jsonl").write_text("kept\n")
  with pytest.raises(UserError):
    run.run(smoke_config(ganimation_config, **overrides), str(tmp_path / "old"), mode)
  assert [p.name for p in (tmp_path / "old").iterdir()] == ["metrics.jsonl"]
