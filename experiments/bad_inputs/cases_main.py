"""``python -m fxs_jax.main`` (its own process each: absl flags parse once per process): config
keys, values and files, workdirs, and a training scenario: a second run on a workdir another run
is training in, a stale lock left by a killed run, ``checkpoints/`` turned read-only mid-run and
the resume after it.

The error cases must stop at start: nothing appears in their workdir (or beside it: the sandbox
but for the data dir, a cache TFDS fills) and they end within the time-out (a run that starts
training on a bad value is bad)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

from experiments.bad_inputs import fixtures
from experiments.bad_inputs import harness
from experiments.bad_inputs.harness import Case

SMOKE = "--config=configs/ganimation.py:smoke"
WORKDIR = "--workdir={sb}/w"
DATA = "--config.data.data_dir={sb}/tfds"
START_TIMEOUT_S = 60.0  # a bad config value must be refused by then (imports, re-exec, checks)
TRAINING_STEPS = 1000  # the scenario's first run: far more steps than it is given time for
FIRST_CHECKPOINT_TIMEOUT_S = 600.0
WATCH = ("w", "file", "ro", "empty", "nope")  # every workdir (or path given as one) of a case
FROZEN_TIMEOUT_S = 420.0  # to reach a new checkpoint, then stop once checkpoints/ is read-only


def _case(name, expect, *argv, **kw) -> Case:
  kw.setdefault("timeout", START_TIMEOUT_S)
  kw.setdefault("watch", WATCH)
  return Case(id=f"main.{name}", cls="main", expect=expect, module="fxs_jax.main", argv=argv,
              isolate=True, **kw)


def _bad_value(name, flag) -> Case:
  return _case(name, "error", SMOKE, flag, WORKDIR, DATA)


# ---- the training scenario -----------------------------------------------------------------
_scenario: dict = {}


def _train(workdir: Path, data_dir: Path, steps: int) -> list[str]:
  return [sys.executable, "-m", "fxs_jax.main", SMOKE, f"--workdir={workdir}",
          f"--config.data.data_dir={data_dir}", f"--config.num_train_steps={steps}"]


def _steps(workdir: Path) -> list[int]:
  folder = workdir / "checkpoints"
  return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() \
      else []


def _env(fx: Path) -> dict:
  return harness.subprocess_env({"JAX_COMPILATION_CACHE_DIR": str(fx.parent / "xla_cache")})


def _background(command, log_stem: Path, env) -> subprocess.Popen:
  with open(harness.log_path(log_stem, "stdout"), "wb") as out, \
      open(harness.log_path(log_stem, "stderr"), "wb") as err:
    return harness.started(subprocess.Popen(
        command, cwd=harness.REPO, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
        start_new_session=True))


def _wait(condition, proc: subprocess.Popen, timeout: float) -> bool:
  """Polls ``condition()`` until it holds (True), ``proc`` ends or ``timeout`` passes (False)."""
  end = time.monotonic() + timeout
  while time.monotonic() < end:
    if condition():
      return True
    if proc.poll() is not None:
      return condition()
    time.sleep(0.5)
  return False


def _kill(proc: subprocess.Popen) -> None:
  harness.stop(proc.pid)
  proc.wait()


def _tail(log_stem: Path) -> str:
  return harness.message_of(harness.log_path(log_stem, "stderr").read_text(errors="replace"))


def _metric_steps(workdir: Path) -> list[int]:
  path = workdir / "metrics.jsonl"
  steps = []
  for line in path.read_text().splitlines() if path.is_file() else []:
    with contextlib.suppress(ValueError, AttributeError):
      steps.append(int(json.loads(line).get("step")))
  return steps


def _first_run(fx: Path) -> dict:
  """A training run, stopped (SIGKILL) at its first checkpoints after a second run was tried
  beside it: the workdir left with a stale lock, and what the second run did."""
  if _scenario:
    return _scenario
  base = fx.parent / "training"
  workdir, data_dir, logs = base / "w", fx.parent / "tfds", fx.parent / "logs"
  base.mkdir(parents=True, exist_ok=True)
  env = _env(fx)
  first = _background(_train(workdir, data_dir, TRAINING_STEPS), logs / "main.first_run", env)
  try:
    if not _wait(lambda: _steps(workdir), first, FIRST_CHECKPOINT_TIMEOUT_S):
      _scenario.update(error=f"the first run wrote no checkpoint: "
                             f"{_tail(logs / 'main.first_run')}")
      return _scenario
    before = _metric_steps(workdir)
    second = harness.run_process(_train(workdir, data_dir, TRAINING_STEPS), harness.REPO, env,
                                 START_TIMEOUT_S, harness.DEFAULT_MEM_CAP_MB,
                                 logs / "main.second_run")
    time.sleep(2.0)  # the first run's next steps, after the second run's attempt
    steps = _metric_steps(workdir)
    # one run writes its train row and its eval row at the same step: only a step going back
    # means a second writer
    interleaved = any(b < a for a, b in zip(steps, steps[1:]))
    _scenario.update(second=second, holder=first.pid, workdir=workdir, data_dir=data_dir,
                     env=env, logs=logs, interleaved=interleaved, steps_before=len(before))
  finally:
    _kill(first)  # SIGKILL: its lock is left behind, stale
  return _scenario


def _failed_scenario(reason: str) -> harness.Run:
  return harness.Run(exit=None, killed=f"scenario not run: {reason}")


def _second_run(sb, fx):
  del sb
  state = _first_run(fx)
  if "error" in state:
    return _failed_scenario(state["error"])
  run = state["second"]
  message = harness.message_of(run.stderr)
  if run.exit not in (0, None) and str(state["holder"]) not in message:
    run.problem = f"the message does not name the process holding the lock (pid {state['holder']})"
  if state["interleaved"]:
    run.problem = "metrics.jsonl holds both runs' steps interleaved"
  return run


def _resume(steps_more: int, freeze: bool = False):
  def call(sb, fx):
    del sb
    state = _first_run(fx)
    if "error" in state:
      return _failed_scenario(state["error"])
    workdir, logs = state["workdir"], state["logs"]
    start = max(_steps(workdir), default=0)
    command = _train(workdir, state["data_dir"], start + steps_more)
    name = "main.frozen_run" if freeze else f"main.resume_{start}"
    if not freeze:
      run = harness.run_process(command, harness.REPO, state["env"], 600.0,
                                harness.DEFAULT_MEM_CAP_MB, logs / name)
      if run.exit == 0 and max(_steps(workdir), default=0) != start + steps_more:
        run.problem = (f"no checkpoint of step {start + steps_more} after the resume "
                       f"(found {_steps(workdir)})")
      return run
    frozen = {}

    def freeze_after_a_new_checkpoint(pid, elapsed):
      del pid, elapsed
      if not frozen and max(_steps(workdir), default=0) > start:
        frozen["steps"] = _steps(workdir)
        fixtures.make_immutable(workdir / "checkpoints")
    try:
      run = harness.run_process(command, harness.REPO, state["env"], FROZEN_TIMEOUT_S,
                                harness.DEFAULT_MEM_CAP_MB, logs / name,
                                on_poll=freeze_after_a_new_checkpoint)
    finally:
      fixtures.release(workdir.parent)
    if not frozen:
      run.problem = "the run ended before a new checkpoint; checkpoints/ was never made read-only"
    elif not set(frozen["steps"]) <= set(_steps(workdir)):
      run.problem = (f"checkpoints lost: {sorted(set(frozen['steps']) - set(_steps(workdir)))}")
    return run
  return call


def _a_file(sb, fx):
  del fx
  (sb / "file").write_text("a file, not a workdir\n")


def cases() -> list[Case]:
  training = dict(isolate=True, lane="training", watch=(), timeout=900.0)
  return [
      # config files and keys
      _case("variant_unknown", "error", "--config=configs/ganimation.py:demoo", WORKDIR),
      _case("config_file_missing", "error", "--config=configs/nope.py", WORKDIR),
      _case("config_syntax_error", "error", "--config={fx}/configs/syntax_error.py", WORKDIR),
      _case("config_raises", "error", "--config={fx}/configs/raises.py", WORKDIR),
      _case("config_without_get_config", "error", "--config={fx}/configs/not_a_config.py",
            WORKDIR),
      _case("config_returns_none", "error", "--config={fx}/configs/returns_none.py", WORKDIR),
      _bad_value("key_typo", "--config.data.batchsize=4"),
      _bad_value("key_typo_top_level", "--config.num_train_stepz=3"),
      _bad_value("section_unknown", "--config.nope.x=1"),
      # values
      _bad_value("batch_size_negative", "--config.data.batch_size=-4"),
      _bad_value("batch_size_0", "--config.data.batch_size=0"),
      _bad_value("batch_size_text", "--config.data.batch_size=abc"),
      _bad_value("batch_size_fraction", "--config.data.batch_size=2.5"),
      _bad_value("batch_size_1e9", "--config.data.batch_size=1000000000"),
      _bad_value("lr_nan", "--config.optim.lr=nan"),
      _bad_value("lr_inf", "--config.optim.lr=inf"),
      _bad_value("lr_negative", "--config.optim.lr=-1"),
      _bad_value("lr_text", "--config.optim.lr=fast"),
      _bad_value("b1_above_1", "--config.optim.b1=1.5"),
      _bad_value("train_steps_negative", "--config.num_train_steps=-5"),
      _bad_value("checkpoint_every_0", "--config.checkpoint.every_steps=0"),
      _bad_value("checkpoint_keep_negative", "--config.checkpoint.keep=-1"),
      _bad_value("logging_every_negative", "--config.logging.every_steps=-1"),
      _bad_value("image_size_0", "--config.model.image_size=0"),
      _bad_value("dtype_float16", "--config.compute.dtype=float16"),
      _bad_value("dataset_unknown", "--config.data.name=nope/x"),
      _case("manual_dir_missing", "error", SMOKE, "--config.data.name=ck_plus/stills_smoke",
            "--config.data.manual_dir={sb}/nope", WORKDIR, DATA),
      # flags and workdirs
      _case("workdir_flag_missing", "error", SMOKE),
      _case("config_flag_missing", "error", WORKDIR),
      _case("mode_unknown", "error", SMOKE, WORKDIR, "--mode=bogus"),
      _case("unexpected_argument", "error", SMOKE, WORKDIR, "extra"),
      _case("workdir_is_a_file", "error", SMOKE, "--workdir={sb}/file", DATA, setup=_a_file),
      _case("workdir_under_a_file", "error", SMOKE, "--workdir={sb}/file/run", DATA,
            setup=_a_file),
      _case("workdir_read_only", "error", SMOKE, "--workdir={sb}/ro/run", DATA,
            setup=lambda sb, fx: fixtures.make_immutable(sb / "ro")),
      _case("eval_without_checkpoints", "error", SMOKE, "--workdir={sb}/empty", DATA,
            "--mode=eval", setup=lambda sb, fx: (sb / "empty").mkdir()),
      _case("eval_step_negative", "error", SMOKE, "--workdir={sb}/empty", DATA, "--mode=eval",
            "--step=-1", setup=lambda sb, fx: (sb / "empty").mkdir()),
      # two runs, a killed run, checkpoints/ read-only mid-run
      Case(id="main.lock_second_run", cls="main", expect="error", call=_second_run,
           what=f"python -m fxs_jax.main {SMOKE} --workdir=W while another run trains in W",
           **training),
      Case(id="main.lock_stale_after_kill", cls="main", expect="ok", call=_resume(1),
           what=f"python -m fxs_jax.main {SMOKE} --workdir=W after the run in W was SIGKILLed",
           **training),
      Case(id="main.checkpoints_read_only_mid_run", cls="main", expect="error",
           call=_resume(200, freeze=True),
           what=f"python -m fxs_jax.main {SMOKE} --workdir=W, W/checkpoints made read-only "
                "after its first new checkpoint", **training),
      Case(id="main.resume_after_read_only", cls="main", expect="ok", call=_resume(1),
           what=f"python -m fxs_jax.main {SMOKE} --workdir=W once W/checkpoints is writable "
                "again", **training),
  ]
