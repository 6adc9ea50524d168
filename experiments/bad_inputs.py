"""Every bad input of issue 33, run end to end: a table of cases, each judged one-line, ok or bad.

  python experiments/bad_inputs.py                    # all: experiments/bad_inputs/results.json
  python experiments/bad_inputs.py --only=edit,serve  # some classes (results in the run folder)
  python experiments/bad_inputs.py --list             # the cases, not run
  python experiments/bad_inputs.py --ids=edit.fps_nan,load.params_truncated_half --keep

Classes: ``main`` (``python -m fxs_jax.main``: config keys and values, workdirs, the workdir
lock, checkpoints turned read-only mid-run), ``load`` (``fxs_jax.load`` on damaged exports),
``edit`` (``python -m fxs_jax.edit``), ``convert_torch``, ``prepare``
(``python -m fxs_jax.faces.prepare``), ``datasets`` (the five manual builders on bad label
files) and ``serve`` (the editor's HTTP API, served on 127.0.0.1 and reached over HTTP, and
``python -m fxs_jax.serve``'s flags). Each case expects an
``error`` (a one-line message or a 4xx, no traceback, nothing written or lost) or ``ok`` (a
control that must succeed); see ``experiments/bad_inputs/harness.py`` for how a result is judged.

Cases that need a process of their own (memory caps, kills, the lock, absl flags) run as fresh
processes watched for time and resident memory (killed above their cap); the others run in one
worker process (JAX imported once), in parallel with them (--jobs of them at a time, and the
training scenario beside). Exit status 1 when any case is bad.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import queue
import signal
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(1, str(ROOT))

from experiments.bad_inputs import fixtures  # pylint: disable=g-import-not-at-top
from experiments.bad_inputs import harness  # pylint: disable=g-import-not-at-top
from experiments.bad_inputs import worker  # pylint: disable=g-import-not-at-top

CLASSES = ("main", "load", "edit", "convert_torch", "prepare", "datasets", "serve")
RESULTS = ROOT / "experiments" / "bad_inputs" / "results.json"
OUTCOMES = ("one-line", "ok", "bad", "harness")


WHAT = {"main": "`python -m fxs_jax.main`: config keys and values, workdirs, the lock, "
                "checkpoints turned read-only mid-run",
        "load": "`fxs_jax.load`: damaged exports and checkpoints",
        "edit": "`python -m fxs_jax.edit`: photos, flags, outputs",
        "convert_torch": "`python -m fxs_jax.convert_torch`: damaged and hostile `.pth` files",
        "prepare": "`python -m fxs_jax.faces.prepare`",
        "datasets": "the five builders on bad label files",
        "serve": "the editor's HTTP API and its flags"}


def markdown(results: dict) -> str:
  """The reliability table (docs/reliability.md): the cases of each class by outcome."""
  lines = ["| class | tried | one-line error | worked (controls; bad label files skipped and listed) | bad |", "| --- | --- | --- | --- | --- |"]
  for name, c in list(results["by_class"].items()) + [("all", results["counts"])]:
    label = "**all**" if name == "all" else f"{name}: {WHAT.get(name, '')}"
    lines.append(f"| {label} | {c.get('tried', 0)} | {c.get('one-line', 0)} | {c.get('ok', 0)} | "
                 f"{c.get('bad', 0) + c.get('harness', 0)} |")
  git = results["git"]
  lines.append(f"\nCommit {git['commit'][:7]}{' (uncommitted changes)' if git['dirty'] else ''}, "
               f"{results['date'][:10]}, {results['seconds']} s: "
               "`experiments/bad_inputs/results.json`.")
  return "\n".join(lines)


def all_cases() -> dict:
  """``{id: Case}`` of every class, in table order."""
  import importlib  # pylint: disable=import-outside-toplevel
  cases = {}
  for name in CLASSES:
    for case in importlib.import_module(f"experiments.bad_inputs.cases_{name}").cases():
      assert case.id not in cases, case.id
      cases[case.id] = case
  return cases


def git_state() -> dict:
  run = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True,
                                  check=False).stdout.strip()
  return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain"))}


def machine() -> dict:
  cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
              if l.startswith("model name")), platform.processor())
  mem = next((int(l.split()[1]) // 1024 for l in Path("/proc/meminfo").read_text().splitlines()
              if l.startswith("MemTotal")), None)
  return {"cpu": cpu, "nproc": os.cpu_count(), "mem_mb": mem, "python": platform.python_version(),
          "load_avg_1m_at_start": round(os.getloadavg()[0], 2)}


def table(rows: list[dict]) -> str:
  lines = [f"{'case':44} {'expect':6} {'outcome':8} {'s':>6} {'MB':>6}  message / reason"]
  for row in rows:
    mb = "" if row["peak_rss_mb"] is None else str(row["peak_rss_mb"])
    secs = "" if row["seconds"] is None else f"{row['seconds']:.1f}"
    text = row["reason"] + (": " if row["reason"] and row["message"] else "") + row["message"]
    lines.append(f"{row['id']:44} {row['expect']:6} {row['outcome']:8} {secs:>6} {mb:>6}  "
                 f"{text[:150]}")
  return "\n".join(lines)


def counts(rows: list[dict]) -> dict:
  out = {"tried": len(rows), **{k: sum(r["outcome"] == k for r in rows) for k in OUTCOMES}}
  if not out["harness"]:
    del out["harness"]
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--only", help=f"comma-separated classes: {', '.join(CLASSES)}")
  parser.add_argument("--ids", help="comma-separated case ids")
  parser.add_argument("--list", action="store_true", help="list the cases and exit")
  parser.add_argument("--keep", action="store_true", help="keep each case's sandbox")
  parser.add_argument("--root", help="run folder (default: a new temporary folder)")
  parser.add_argument("--json", help="results file (default: experiments/bad_inputs/"
                      "results.json for the whole table, else RUN_FOLDER/results.json)")
  parser.add_argument("--jobs", type=int, default=2,
                      help="isolated cases run this many at a time (beside the in-process "
                           "worker and the training scenario)")
  parser.add_argument("--serial", action="store_true",
                      help="one case at a time (the lanes one after another)")
  parser.add_argument("--markdown", action="store_true",
                      help="print the docs' table from the committed results.json, not run")
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--progress", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.markdown:
    print(markdown(json.loads(RESULTS.read_text())))
    return 0
  cases = all_cases()
  if args.worker:
    root = Path(args.root)
    worker.work(cases, args.ids.split(","), root, root / "fixtures", Path(args.progress),
                args.keep)
    return 0
  chosen = list(cases.values())
  if args.only:
    classes = args.only.split(",")
    unknown = sorted(set(classes) - set(CLASSES))
    if unknown:
      parser.error(f"--only: unknown classes {', '.join(unknown)}; choose from "
                   f"{', '.join(CLASSES)}")
    chosen = [c for c in chosen if c.cls in classes]
  if args.ids:
    wanted = args.ids.split(",")
    missing = [i for i in wanted if i not in cases]
    if missing:
      parser.error(f"--ids: no cases {', '.join(missing)}")
    chosen = [c for c in chosen if c.id in wanted]
  if args.list:
    for case in chosen:
      where = "process" if case.isolate else "worker"
      print(f"{case.id:44} {case.expect:6} {where:8} {case.what}")
    print(f"{len(chosen)} cases")
    return 0

  root = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="fxs_bad_inputs_"))
  root.mkdir(parents=True, exist_ok=True)
  started, start = datetime.datetime.now(datetime.timezone.utc), time.monotonic()
  state = {"git": git_state(), "machine": machine()}
  print(f"{len(chosen)} cases; run folder {root}; building the shared inputs...", flush=True)
  fx = root / "fixtures"
  fixtures.release_tree(fx)
  shutil.rmtree(fx, ignore_errors=True)
  fixtures.build(fx)
  (root / "logs").mkdir(exist_ok=True)
  rows, lock = [], threading.Lock()

  def emit(row):
    with lock:
      rows.append(row)
      text = row["reason"] + (": " if row["reason"] and row["message"] else "") + row["message"]
      print(f"[{len(rows):3}/{len(chosen)}] {row['outcome']:8} {row['id']:42} "
            f"{row['seconds'] or 0:6.1f} s  {text[:110]}", flush=True)

  here = [c.id for c in chosen if not c.isolate]

  pool = queue.Queue()
  for case in chosen:
    if case.isolate and case.lane == "process":
      pool.put(case)

  def process_lane(lane):
    """Runs the isolated cases of ``lane`` in order; the "process" lanes share one queue."""
    if lane != "process":
      for case in chosen:
        if case.isolate and case.lane == lane:
          emit(worker.execute(case, root, fx, in_process=False, keep=args.keep))
      return
    while True:
      try:
        case = pool.get_nowait()
      except queue.Empty:
        return
      emit(worker.execute(case, root, fx, in_process=False, keep=args.keep))

  names = [lane for lane in dict.fromkeys(c.lane for c in chosen if c.isolate)
           if lane != "process"] + ["process"] * (args.jobs if pool.qsize() else 0)
  lanes = [threading.Thread(target=process_lane, args=(lane,), daemon=True) for lane in names]
  if here:
    lanes.append(threading.Thread(target=worker.worker_lane, daemon=True, args=(
        Path(__file__).resolve(), cases, here, root, fx, emit, args.keep)))
  # SIGTERM as Ctrl-C: the finally below then kills every process the lanes started.
  signal.signal(signal.SIGTERM, signal.default_int_handler)
  try:
    for lane in lanes:
      lane.start()
      if args.serial:
        lane.join()
    for lane in lanes:
      lane.join()
  finally:
    harness.kill_started()
    fixtures.release_tree(root)
  done = {row["id"] for row in rows}
  for case in chosen:
    if case.id not in done:  # a lane that crashed (its traceback is above)
      emit({"id": case.id, "class": case.cls, "command": case.what, "expect": case.expect,
            "outcome": "harness", "reason": "not run: its lane stopped", "message": "",
            "exit": None, "seconds": None, "peak_rss_mb": None, "rss_scope": "", "changed": []})
  order = {case_id: k for k, case_id in enumerate(cases)}
  rows.sort(key=lambda r: order[r["id"]])
  print("\n" + table(rows))
  by_class = {name: counts([r for r in rows if r["class"] == name])
              for name in CLASSES if any(r["class"] == name for r in rows)}
  total = counts(rows)
  print()
  for name, c in by_class.items():
    print(f"{name:14} " + " / ".join(f"{k} {v}" for k, v in c.items()))
  print(f"{'all':14} " + " / ".join(f"{k} {v}" for k, v in total.items()) +
        f"  ({time.monotonic() - start:.0f} s)")
  whole = not args.only and not args.ids
  out = Path(args.json) if args.json else (RESULTS if whole else root / "results.json")
  out.write_text(json.dumps({
      "command": "python experiments/bad_inputs.py " + " ".join(argv or sys.argv[1:]),
      "date": started.isoformat(timespec="seconds"), **state,
      "seconds": round(time.monotonic() - start), "counts": total, "by_class": by_class,
      "cases": rows}, indent=1) + "\n")
  print(f"results: {out}")
  if not args.keep and not args.root:
    shutil.rmtree(root, ignore_errors=True)
  return 1 if total.get("bad") or total.get("harness") else 0


if __name__ == "__main__":
  sys.exit(main())
