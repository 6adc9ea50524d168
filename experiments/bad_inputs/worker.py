"""Running cases: one case in its sandbox (:func:`execute`), the in-process worker that runs many
cases in one Python with JAX loaded once (:func:`work`), and the lane that drives that worker from
the parent, restarting it after a case that hangs, crashes it or passes the memory cap
(:func:`worker_lane`)."""

from __future__ import annotations

import json
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

from experiments.bad_inputs import fixtures
from experiments.bad_inputs import harness

WORKER_MEM_CAP_MB = 6000  # the in-process worker: JAX, the models and one case at a time
WORKER_GRACE_S = 60.0  # beyond a case's own time-out (its SIGALRM) before the worker is killed


def execute(case: harness.Case, root: Path, fx: Path, in_process: bool,
            keep: bool = False) -> dict:
  """Runs ``case`` in a fresh sandbox ``root/cases/<id>`` and returns its results row."""
  sandbox = root / "cases" / case.id
  logs = root / "logs"
  logs.mkdir(parents=True, exist_ok=True)
  shutil.rmtree(sandbox, ignore_errors=True)
  sandbox.mkdir(parents=True)
  try:
    if case.setup is not None:
      case.setup(sandbox, fx)
    before = harness.snapshot(sandbox, case.watch)
    if in_process:
      run = harness.run_here(case, sandbox, fx)
    elif case.call is not None:  # a scenario of several processes, run from the parent
      run = case.call(sandbox, fx)
    else:
      run = harness.run_isolated(case, sandbox, fx, logs / case.id)
    after = harness.snapshot(sandbox, case.watch)
    changed = harness.changes(before, after) if case.expect == "error" else []
    problem = run.problem
    succeeded = not run.killed and not run.traceback and (
        run.exit == 0 or (isinstance(run.result, harness.Reply) and run.exit < 400))
    if not problem and case.expect == "ok" and case.check is not None and succeeded:
      try:
        problem = case.check(sandbox, fx, run) or ""
      except Exception as e:  # pylint: disable=broad-except
        problem = f"check failed: {type(e).__name__}: {e}"
    return harness.record(case, run, changed, problem)
  except Exception as e:  # pylint: disable=broad-except
    return {"id": case.id, "class": case.cls, "command": case.what, "expect": case.expect,
            "outcome": "harness", "reason": f"the case could not be set up or judged: {e}",
            "message": " ".join(traceback.format_exc().split())[-200:], "exit": None,
            "seconds": 0.0, "peak_rss_mb": None, "rss_scope": "", "changed": []}
  finally:
    fixtures.release(sandbox)
    if not keep:
      shutil.rmtree(sandbox, ignore_errors=True)


def work(cases: dict, ids: list[str], root: Path, fx: Path, progress: Path, keep: bool) -> None:
  """The worker: runs ``ids`` in this process, one JSON line per start and per result."""
  with open(progress, "a", buffering=1) as out:
    for case_id in ids:
      out.write(json.dumps({"start": case_id, "t": time.time()}) + "\n")
      row = execute(cases[case_id], root, fx, in_process=True, keep=keep)
      out.write(json.dumps({"result": row}) + "\n")


def worker_lane(script: Path, cases: dict, ids: list[str], root: Path, fx: Path,
                emit: Callable[[dict], None], keep: bool) -> None:
  """Runs ``ids`` through worker processes of ``script --worker``, calling ``emit(row)`` per
  case; a case that kills its worker (time-out, memory, crash) is emitted as bad."""
  remaining, attempt = list(ids), 0
  while remaining:
    attempt += 1
    progress = root / f"worker_{attempt}.jsonl"
    progress.write_text("")
    state = {"current": None, "since": 0.0, "offset": 0}

    def drain():
      with open(progress) as f:
        f.seek(state["offset"])
        text = f.read()
      complete = text[:text.rfind("\n") + 1]
      state["offset"] += len(complete.encode())
      for line in complete.splitlines():
        item = json.loads(line)
        if "start" in item:
          state["current"], state["since"] = item["start"], time.monotonic()
        else:
          emit(item["result"])
          remaining.remove(item["result"]["id"])
          state["current"] = None

    def on_poll(pid, elapsed):
      del pid, elapsed
      drain()
      current = state["current"]
      if current is not None:
        limit = cases[current].timeout + WORKER_GRACE_S
        if time.monotonic() - state["since"] > limit:
          return f"timed out after {limit:g} s (the worker did not come back)"
      return None

    command = [sys.executable, str(script), "--worker", f"--root={root}",
               f"--ids={','.join(remaining)}", f"--progress={progress}"] + (
                   ["--keep"] if keep else [])
    run = harness.run_process(command, harness.REPO, harness.subprocess_env(), float("inf"),
                              WORKER_MEM_CAP_MB, root / "logs" / f"worker_{attempt}",
                              on_poll=on_poll)
    drain()
    if not remaining:
      break
    current = state["current"] or remaining[0]
    tail = harness.message_of(run.stderr)
    case = cases[current]
    reason = run.killed or f"the worker process died (exit {run.exit}): {tail}"
    emit({"id": case.id, "class": case.cls, "command": case.what, "expect": case.expect,
          "outcome": "bad", "reason": reason[:300], "message": tail[:200], "exit": run.exit,
          "seconds": round(time.monotonic() - state["since"], 2) if state["since"] else None,
          "peak_rss_mb": round(run.peak_rss_mb) if run.peak_rss_mb else None,
          "rss_scope": "worker", "changed": []})
    remaining.remove(current)
    fixtures.release_tree(root / "cases" / current)
    if not keep:
      shutil.rmtree(root / "cases" / current, ignore_errors=True)
