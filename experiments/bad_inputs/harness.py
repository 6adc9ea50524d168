"""How one case of the bad-input table is run and judged.

A case is a command (``python -m MODULE ARGV``, in a fresh process or through the module's
``main(argv)`` in this one) or a call (a function of the case's sandbox folder and the shared
fixtures). Its result is reduced to an exit status (or an HTTP status), the text it printed and
the files it changed, and judged against what the case expects:

* ``one-line``: an ``error`` case that failed (exit status != 0, a 4xx, or a ``UserError``) with a
  single-line message, no traceback, and left its sandbox as it was (nothing written or lost);
* ``ok``: an ``ok`` case that succeeded (and passed its own check, if it has one);
* ``bad``: anything else: a traceback, a 5xx, success on bad input, a failing control, files
  written or lost on failure, memory above the case's cap, a time-out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import io
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MEM_CAP_MB = 2500
DEFAULT_TIMEOUT_S = 120.0
POLL_S = 0.1
HASH_LIMIT = 64 * 2**20  # bytes: bigger files are compared by size and mtime only
# Lines that are not the message: absl / logging records, warnings and their source lines,
# progress bars, argparse's usage text, absl's hint after a flag error.
_LOG_LINE = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:\d\d|(DEBUG|INFO|WARNING|ERROR|CRITICAL):[\w.]+:"
    r"|\S+\.py:\d+: \w*Warning|\s|usage: |\S*\s*\d+%\|"
    r"|.*\d+(\.\d+)?(it|s|examples|splits|image|photo)/s\]|Building |Built "
    r"|Downloading |Dataset \S+ downloaded|Generating |Shuffling |Pass --helpshort )")


@dataclasses.dataclass
class Case:
  """One row of the table.

  ``module`` + ``argv``: a command line (``{sb}``: the sandbox folder, ``{fx}``: the fixtures
  folder, ``{py}``: this Python); else ``call(sandbox, fixtures)``, whose return value is the
  result (a ``Reply`` for HTTP requests) and whose ``UserError`` is a one-line failure.
  ``setup(sandbox, fixtures)`` writes the case's inputs first. ``watch``: the sandbox paths an
  ``error`` case must leave as they were. ``check(sandbox, fixtures, result)``: for an ``ok``
  case, "" or what is wrong. ``isolate``: in a fresh process (memory caps, locks, flags that
  cannot be parsed twice in one process); isolated cases of different ``lane``\ s run at the
  same time.
  """
  id: str
  cls: str
  expect: str  # "error" or "ok"
  what: str = ""
  module: str = ""
  argv: tuple = ()
  call: Callable | None = None
  setup: Callable | None = None
  watch: tuple = (".",)
  check: Callable | None = None
  isolate: bool = False
  lane: str = "process"  # isolated cases of one lane run one after another
  mem_cap_mb: int = DEFAULT_MEM_CAP_MB
  timeout: float = DEFAULT_TIMEOUT_S
  env: dict = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    assert self.expect in ("error", "ok"), self.expect
    if not self.what:
      self.what = f"python -m {self.module} {' '.join(self.argv)}".strip()

  def args(self, sandbox: Path, fixtures: Path) -> list[str]:
    return [a.format(sb=sandbox, fx=fixtures, py=sys.executable) for a in self.argv]


@dataclasses.dataclass
class Reply:
  """An HTTP response as a case result: status, the body's text (JSON; else empty) and type."""
  status: int
  text: str
  content_type: str = "application/json"
  size: int = 0

  def summary(self) -> str:
    if self.content_type.startswith("application/json"):
      return self.text
    return f"HTTP {self.status}: {self.size} bytes of {self.content_type}"


@dataclasses.dataclass
class Run:
  """What running a case gave, before judging."""
  exit: int | None = None  # exit status, HTTP status, or None (killed)
  stdout: str = ""
  stderr: str = ""
  error: str = ""  # a raised UserError's message, or a traceback of anything else
  traceback: bool = False
  result: object = None
  seconds: float = 0.0
  peak_rss_mb: float | None = None
  rss_scope: str = ""  # "process": the case's own process; "worker": the shared in-process worker
  killed: str = ""  # why the process was killed (time-out, memory)
  problem: str = ""  # what a scenario found wrong besides the exit (e.g. interleaved logs)


# ---- files ------------------------------------------------------------------------------------
def snapshot(root: Path, paths=(".",)) -> dict:
  """``{relative path: (kind, size, digest)}`` of ``paths`` under ``root`` (recursively)."""
  found = {}
  for rel in paths:
    base = root / rel
    todo = [base] if base.exists() or base.is_symlink() else []
    while todo:
      path = todo.pop()
      key = os.path.relpath(path, root)
      if path.is_symlink():
        found[key] = ("link", 0, os.readlink(path))
      elif path.is_dir():
        found[key] = ("dir", 0, "")
        try:
          todo += sorted(path.iterdir())
        except OSError:
          pass
      else:
        stat = path.stat()
        digest = f"{stat.st_mtime_ns}"
        if stat.st_size <= HASH_LIMIT:
          try:
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
          except OSError:
            pass
        found[key] = ("file", stat.st_size, digest)
  return found


def changes(before: dict, after: dict) -> list[str]:
  """What differs: ``+path`` written, ``-path`` lost, ``~path`` changed."""
  out = [f"+{p}" for p in sorted(after.keys() - before.keys())]
  out += [f"-{p}" for p in sorted(before.keys() - after.keys())]
  out += [f"~{p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
  return out


# ---- judging ----------------------------------------------------------------------------------
def message_of(text: str) -> str:
  """The last line of ``text`` that is not a log record, a warning or a progress bar."""
  lines = [l for l in re.split(r"[\r\n]+", text) if l.strip()]
  for line in reversed(lines):
    if not _LOG_LINE.match(line):
      return line.strip()
  return ""


def judge(case: Case, run: Run, changed: list[str], problem: str = "") -> tuple[str, str]:
  """``(outcome, reason)``: outcome one-line, ok or bad (see the module docstring); ``problem``:
  what the case's check or scenario found wrong beyond the exit status."""
  if run.killed:
    return "bad", run.killed
  if run.traceback or "Traceback (most recent call last)" in run.stderr:
    return "bad", "traceback"
  if run.peak_rss_mb is not None and run.rss_scope == "process" and \
      run.peak_rss_mb > case.mem_cap_mb:
    return "bad", f"peak RSS {run.peak_rss_mb:.0f} MB above the {case.mem_cap_mb} MB cap"
  http = isinstance(run.result, Reply)
  if http and run.exit >= 500:
    return "bad", f"HTTP {run.exit}"
  failed = run.exit != 0 if not http else run.exit >= 400
  message = failure_message(run)
  if case.expect == "ok":
    if failed:
      return "bad", f"control failed ({'HTTP ' if http else 'exit '}{run.exit})"
    return ("bad", problem) if problem else ("ok", "")
  if not failed:
    return "bad", f"accepted ({'HTTP ' if http else 'exit '}{run.exit})"
  if not message:
    return "bad", "no error message"
  if "\n" in message.strip():
    return "bad", "message of several lines"
  if changed:
    return "bad", f"written or lost on failure: {', '.join(changed[:4])}"
  return ("bad", problem) if problem else ("one-line", "")


def failure_message(run: Run) -> str:
  if isinstance(run.result, Reply):
    text = run.result.summary().strip()
    try:
      import json  # pylint: disable=import-outside-toplevel
      body = json.loads(text)
      if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    except ValueError:
      pass
    return text
  if run.error:
    return run.error
  return message_of(run.stderr)


# ---- running ------------------------------------------------------------------------------------
class HarnessError(Exception):
  """This script, not the product, failed to run a case (judged "harness", not "bad")."""


class CaseTimeout(BaseException):
  """Raised in this process when an in-process case runs past its time (not an Exception, so
  that the product's ``except Exception`` does not swallow it)."""


def _alarm(signum, frame):
  del signum, frame
  raise CaseTimeout()


def _rss_kb(pid: int, field: str = "VmRSS") -> int:
  try:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
      if line.startswith(field + ":"):
        return int(line.split()[1])
  except (OSError, ValueError, IndexError):
    pass
  return 0


def _group_rss_kb(pgid: int) -> int:
  """Resident memory of every process in process group ``pgid`` (a command and its children)."""
  total = 0
  for entry in os.listdir("/proc"):
    if entry.isdigit():
      try:
        stat = Path(f"/proc/{entry}/stat").read_text()
        if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
          total += _rss_kb(int(entry))
      except (OSError, ValueError, IndexError):
        continue
  return total


_live_groups: set[int] = set()  # process groups this process started and has not yet reaped


def started(proc: subprocess.Popen) -> subprocess.Popen:
  """Registers ``proc`` (started with ``start_new_session``) for :func:`kill_started`."""
  _live_groups.add(proc.pid)
  return proc


def stop(pgid: int) -> None:
  """SIGKILL to process group ``pgid`` (one this process started)."""
  with contextlib.suppress(ProcessLookupError):
    os.killpg(pgid, signal.SIGKILL)
  _live_groups.discard(pgid)


def kill_started() -> None:
  """Kills every process group this process started that is still running (on exit)."""
  for pgid in list(_live_groups):
    stop(pgid)


def log_path(stem: Path, stream: str) -> Path:
  """``<stem>.<stream>`` (a case id holds dots: no ``with_suffix``)."""
  return stem.with_name(f"{stem.name}.{stream}")


def run_process(command: list[str], cwd: Path, env: dict, timeout: float, mem_cap_mb: float,
                log_stem: Path, on_poll: Callable | None = None) -> Run:
  """``command`` in a new process group, killed at ``timeout`` seconds or when the group's
  resident memory passes ``mem_cap_mb``; its peak RSS (the larger of ``wait4``'s and the
  polled group's)."""
  out_path, err_path = log_path(log_stem, "stdout"), log_path(log_stem, "stderr")
  with open(out_path, "wb") as out, open(err_path, "wb") as err:
    proc = started(subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, start_new_session=True))
  start, killed, polled_kb = time.monotonic(), "", 0
  while True:
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if pid:
      break
    polled_kb = max(polled_kb, _group_rss_kb(proc.pid))
    elapsed = time.monotonic() - start
    if polled_kb > mem_cap_mb * 1024 and not killed:
      killed = f"killed at {polled_kb / 1024:.0f} MB (cap {mem_cap_mb} MB) after {elapsed:.1f} s"
    elif elapsed > timeout and not killed:
      killed = f"timed out after {timeout:g} s"
    if on_poll is not None and not killed:
      killed = on_poll(proc.pid, elapsed) or ""
    if killed:
      stop(proc.pid)
      pid, status, usage = os.wait4(proc.pid, 0)
      break
    time.sleep(POLL_S)
  proc.returncode = os.waitstatus_to_exitcode(status)
  seconds = time.monotonic() - start
  stop(proc.pid)  # leftovers of the group, if any
  read = lambda p: p.read_bytes().decode("utf-8", "replace")
  return Run(exit=None if killed else proc.returncode, stdout=read(out_path),
             stderr=read(err_path), seconds=seconds, killed=killed, rss_scope="process",
             peak_rss_mb=max(usage.ru_maxrss, polled_kb) / 1024)


def subprocess_env(extra: dict | None = None) -> dict:
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1", **(extra or {}))
  env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
  return env


def _reset_peak_rss() -> bool:
  try:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)
    return True
  except OSError:
    return False


def run_here(case: Case, sandbox: Path, fixtures: Path) -> Run:
  """``case`` in this process: its module's ``main(argv)`` with stdout / stderr captured, or its
  call; a time-out by SIGALRM, the peak RSS of this process during the case."""
  from fxs_jax.errors import UserError  # pylint: disable=import-outside-toplevel
  out, err, run = io.StringIO(), io.StringIO(), Run(rss_scope="worker")
  measured = _reset_peak_rss()
  previous = signal.signal(signal.SIGALRM, _alarm)
  signal.setitimer(signal.ITIMER_REAL, case.timeout)
  start = time.monotonic()
  try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      if case.module:
        try:
          code = importlib.import_module(case.module).main(case.args(sandbox, fixtures))
        except SystemExit as e:
          code = e.code
        if isinstance(code, str):  # sys.exit("message"): Python prints it, status 1
          print(code, file=sys.stderr)
          code = 1
        run.exit = int(code or 0)
      else:
        run.result = case.call(sandbox, fixtures)
        run.exit = run.result.status if isinstance(run.result, Reply) else 0
  except CaseTimeout:
    run.killed = f"timed out after {case.timeout:g} s"
  except HarnessError:
    raise
  except UserError as e:
    run.exit, run.error = 1, str(e)
  except BaseException as e:  # pylint: disable=broad-except
    if isinstance(e, KeyboardInterrupt):
      raise
    run.exit, run.traceback = 1, True
    run.error = "".join(traceback.format_exception(e)).strip()
  finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)
  run.seconds = time.monotonic() - start
  run.stdout, run.stderr = out.getvalue(), err.getvalue()
  if measured:
    run.peak_rss_mb = _rss_kb(os.getpid(), "VmHWM") / 1024
  return run


def run_isolated(case: Case, sandbox: Path, fixtures: Path, log_stem: Path) -> Run:
  """``case`` in a fresh process: ``python -m MODULE ARGV``, or, for a call, this package's
  worker running only that case."""
  if case.module:
    command = [sys.executable, "-m", case.module, *case.args(sandbox, fixtures)]
  else:
    raise ValueError(f"{case.id}: an isolated case must be a command")
  return run_process(command, REPO, subprocess_env(case.env), case.timeout, case.mem_cap_mb,
                     log_stem)


def record(case: Case, run: Run, changed: list[str], problem: str = "") -> dict:
  """The case's row of results.json."""
  outcome, reason = judge(case, run, changed, problem)
  message = failure_message(run) if (run.exit not in (0, None) or run.traceback) else (
      message_of(run.stdout) if not isinstance(run.result, Reply) else run.result.summary())
  if run.traceback and run.error:
    message = run.error.strip().splitlines()[-1]
  elif run.traceback or "Traceback (most recent call last)" in run.stderr:
    message = message_of(run.stderr) or message
  return {"id": case.id, "class": case.cls, "command": case.what, "expect": case.expect,
          "outcome": outcome, "reason": reason, "message": " ".join(message.split())[:200],
          "exit": run.exit, "seconds": round(run.seconds, 2),
          "peak_rss_mb": None if run.peak_rss_mb is None else round(run.peak_rss_mb),
          "rss_scope": run.rss_scope, "changed": changed[:10]}
