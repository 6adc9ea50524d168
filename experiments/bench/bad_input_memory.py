"""Peak memory of the inputs issue 33 found unbounded, measured in fresh processes.

  python experiments/bench/bad_input_memory.py [--frames=N] [--max_side=N] [--cap_mb=8000]

(a) ``python -m fxs_jax.edit PHOTO --model=synthfaces/ganimation --emotion=happy --animate=N``
    at the largest N the CLI allows (read from its one-line error for a far larger N; --frames
    overrides), at the default --max_side and at the largest it allows (read the same way), on
    scikit-image's astronaut (512 x 512) and on the astronaut upscaled to about 20 MP; where the
    CLI refuses N for that photo and size and names the most frames it allows there, that many
    are measured too;
(b) ``python -m fxs_jax.convert_torch`` on a zip-bomb .pth: about 1.4 MB whose one storage entry
    inflates to 1.5 GB of zeros (experiments/bad_inputs/fixtures.py:zip_bomb).

Each command runs in its own process group, killed above ``--cap_mb`` of resident memory; the
peak is the larger of wait4's ru_maxrss and the polled group's RSS. Prints a table and writes
experiments/bench/bad_input_memory.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import benchlib  # puts the repository root on sys.path

from experiments.bad_inputs import fixtures  # pylint: disable=g-import-not-at-top
from experiments.bad_inputs import harness  # pylint: disable=g-import-not-at-top

OUT = Path(__file__).with_suffix(".json")
MODEL = "synthfaces/ganimation"
LARGE_SIDE = 4480  # the upscaled astronaut: 4480 x 4480 = 20.1 MP
CONVERT_SIZES = ("--config=configs/ganimation.py:smoke", "--config.model.gen_base_channels=4",
                 "--config.model.gen_num_res_blocks=2", "--config.model.critic_base_channels=4",
                 "--config.model.critic_num_layers=4", "--image_size=32")


def _edit(photo: Path, out: Path, *flags) -> list[str]:
  return [sys.executable, "-m", "fxs_jax.edit", str(photo), f"--model={MODEL}",
          "--emotion=happy", f"--out={out}", *flags]


def _run(command, work: Path, name: str, cap_mb: float, timeout: float = 1800.0):
  return harness.run_process(command, harness.REPO, harness.subprocess_env(), timeout, cap_mb,
                             work / name)


def upper_bound(work: Path, photo: Path, flag: str, huge: int, cap_mb: float) -> int | None:
  """The largest value of ``flag`` the CLI allows, from its error for ``--flag=huge``: the upper
  end of the "[low, high]" range it states; None if it states none (or accepts ``huge``)."""
  extra = [] if flag == "animate" else ["--animate=3"]
  run = _run(_edit(photo, work / "bound", f"--{flag}={huge}", *extra), work, f"bound_{flag}",
             cap_mb, timeout=300)
  found = re.search(r"\[(\d+), (\d+)\]", harness.message_of(run.stderr))
  return int(found.group(2)) if run.exit not in (0, None) and found else None


def default_max_side() -> int:
  from fxs_jax import photos  # pylint: disable=import-outside-toplevel
  return int(photos.ANIMATION_MAX_SIDE)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--frames", type=int, help="--animate=N to measure (default: the CLI's "
                      "largest allowed)")
  parser.add_argument("--max_side", type=int, help="the large --max_side (default: the CLI's "
                      "largest allowed)")
  parser.add_argument("--cap_mb", type=float, default=8000.0,
                      help="kill a command above this resident memory")
  parser.add_argument("--skip_large_photo", action="store_true")
  parser.add_argument("--markdown", action="store_true",
                      help="print the docs' table from the committed JSON, not run")
  args = parser.parse_args(argv)
  if args.markdown:
    print(markdown(json.loads(OUT.read_text())))
    return 0
  work = Path(tempfile.mkdtemp(prefix="fxs_bad_input_memory_"))
  try:
    from PIL import Image  # pylint: disable=import-outside-toplevel
    photo = work / "astronaut.png"
    Image.fromarray(fixtures.astronaut()).save(photo)
    large = work / "astronaut_20mp.png"
    if not args.skip_large_photo:
      Image.fromarray(fixtures.astronaut()).resize((LARGE_SIDE, LARGE_SIDE),
                                                   Image.LANCZOS).save(large)
    bomb = fixtures.zip_bomb(work / "bomb.pth")
    frames = args.frames or upper_bound(work, photo, "animate", 1_000_000, args.cap_mb)
    big_side = args.max_side or upper_bound(work, photo, "max_side", 1_000_000, args.cap_mb)
    notes = {"frames": "given" if args.frames else "the CLI's bound" if frames else "no bound",
             "max_side": "given" if args.max_side else "the CLI's bound" if big_side else
             "no bound"}
    frames = frames or 300
    sides = {"default": default_max_side(), "largest": big_side or 4096}
    rows = []
    for photo_name, path in (("astronaut 512x512", photo), (f"astronaut {LARGE_SIDE}x"
                                                           f"{LARGE_SIDE}", large)):
      if not path.exists():
        continue
      for which, side in sides.items():
        n = frames
        while n:  # the CLI's bound, then the most it allows for this photo and size, if fewer
          name = f"edit --animate={n} --max_side={side} ({which}), {photo_name}"
          command = _edit(path, work / f"anim_{len(rows)}", f"--animate={n}",
                          f"--max_side={side}")
          run = _run(command, work, f"edit_{len(rows)}", args.cap_mb)
          rows.append((name, command, run))
          print(f"{name}: {run.peak_rss_mb:.0f} MB, exit {run.exit}", flush=True)
          fewer = re.search(r"at most (\d+) frames", harness.message_of(run.stderr))
          n = int(fewer.group(1)) if run.exit and fewer and int(fewer.group(1)) < n else 0
    command = [sys.executable, "-m", "fxs_jax.convert_torch", *CONVERT_SIZES,
               f"--generator={bomb}", f"--out={work / 'bomb_export'}"]
    name = (f"convert_torch on a {bomb.stat().st_size / 2**20:.1f} MB .pth inflating to "
            f"{fixtures.BOMB_BYTES / 1e9:.2f} GB")
    rows.append((name, command, _run(command, work, "bomb", args.cap_mb)))
    table = []
    for name, command, run in rows:
      message = harness.message_of(run.stderr) if run.exit else harness.message_of(run.stdout)
      message = (run.killed or message).replace(str(work), "TMP")
      table.append({"case": name, "peak_rss_mb": round(run.peak_rss_mb),
                    "seconds": round(run.seconds, 1), "exit": run.exit,
                    "killed": run.killed, "message": message[:200],
                    "command": " ".join(command).replace(str(work), "TMP")})
    print(f"\n{'case':78} {'peak MB':>8} {'s':>7} {'exit':>5}  message")
    for row in table:
      print(f"{row['case']:78} {row['peak_rss_mb']:8} {row['seconds']:7.1f} "
            f"{str(row['exit']):>5}  {row['message'][:90]}")
    OUT.write_text(json.dumps({
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": _git_state(),
        "machine": benchlib.machine_info(), "cap_mb": args.cap_mb, "frames": frames,
        "max_side": sides, "bounds": notes, "rows": table}, indent=1) + "\n")
    print(f"results: {OUT}")
  finally:
    shutil.rmtree(work, ignore_errors=True)
  return 0


def markdown(results: dict) -> str:
  """The docs' table of peak memory at the bounds, from ``results``."""
  lines = ["| command | peak RSS | outcome |", "| --- | --- | --- |"]
  for row in results["rows"]:
    outcome = "written" if row["exit"] == 0 else row["killed"] or row["message"].split(": ", 1)[-1]
    outcome = outcome if len(outcome) <= 110 else outcome[:107] + "..."
    lines.append(f"| `{row['case']}` | {row['peak_rss_mb']:,} MB | {outcome.replace('|', '/')} |")
  git = results["git"]
  lines.append(f"\nCommit {git['commit'][:7]}{' (uncommitted changes)' if git['dirty'] else ''}, "
               f"{results['date'][:10]}.")
  return "\n".join(lines)


def _git_state() -> dict:
  import subprocess  # pylint: disable=import-outside-toplevel
  git = lambda *a: subprocess.run(["git", *a], cwd=harness.REPO, capture_output=True, text=True,
                                  check=False).stdout.strip()
  return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


if __name__ == "__main__":
  sys.exit(main())
