"""Latency of one slider move in the browser editor (``python -m fxs_jax.serve``): the HTTP
round trip of ``POST /api/edit``, at 64 px and 128 px, with one client and with several at once.

  python experiments/bench/serve_latency.py [--requests=40] [--clients=4] [--out=FILE.json]

Rows: the bundled GANimation (64 px, the `:demo` network) and a GANimation at the paper's size
(128 px, 64 channels, 6 residual blocks: ``configs/ganimation.py``'s default) with freshly
initialised weights, exported to a temporary directory (speed does not depend on the weights).
Each model is served by ``python -m fxs_jax.serve`` in its own process (compiled at start-up,
not timed), on two photos: a sample face (a 256 px SynthFaces render) and scikit-image's
astronaut (512 px, uploaded, its face found once). Every request moves the AU12 slider to a new
value, as a user dragging it would (one client sends its next edit when the last one is back).
Reported per request: the median and 90th percentile round trip, the server's share (model,
paste-back + encoding), and for ``--clients`` clients at once the throughput and the mean rows
per jitted call (edits that wait together run as one batch). Measure on an idle machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import benchlib  # puts the repository root on sys.path

PHOTOS = ("sample-0", "astronaut")


def paper_size_export(out_dir: Path) -> Path:
  """A freshly initialised paper-size GANimation (128 px), exported to ``out_dir``."""
  from flax import nnx  # pylint: disable=import-outside-toplevel
  from configs import ganimation  # pylint: disable=import-outside-toplevel
  from fxs_jax import inference  # pylint: disable=import-outside-toplevel
  from fxs_jax.train import state as state_lib  # pylint: disable=import-outside-toplevel
  recipe = inference.recipe_for(ganimation.get_config())
  graphdef, params, rest = state_lib.split(recipe.build_generator(nnx.Rngs(0)))
  model = inference.from_state(recipe, graphdef, params, rest, step=0)
  return inference.write_export(model, out_dir, note="random weights: latency benchmark only")


def _free_port() -> int:
  with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    return sock.getsockname()[1]


def _call(url: str, body=None, headers=None) -> dict:
  data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
  request = urllib.request.Request(url, data=data,
                                   headers=headers or {"Content-Type": "application/json"})
  with urllib.request.urlopen(request, timeout=300) as response:
    return json.loads(response.read())


class Server:
  """``python -m fxs_jax.serve --model=MODEL`` on a free port, until closed."""

  def __init__(self, model: str):
    self.url = f"http://127.0.0.1:{_free_port()}"
    port = self.url.rsplit(":", 1)[1]
    self.process = subprocess.Popen(
        [sys.executable, "-m", "fxs_jax.serve", f"--model={model}", f"--port={port}",
         "--timeout=300"], cwd=benchlib.REPO, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while True:
      try:
        if _call(f"{self.url}/api/health")["ready"]:
          break
      except OSError:
        pass
      if self.process.poll() is not None or time.monotonic() > deadline:
        raise RuntimeError(f"the editor did not start for {model}")
      time.sleep(0.5)

  def close(self) -> None:
    self.process.terminate()
    self.process.wait(timeout=30)


def _astronaut_png() -> bytes:
  import numpy as np  # pylint: disable=import-outside-toplevel
  from PIL import Image  # pylint: disable=import-outside-toplevel
  from skimage import data  # pylint: disable=import-outside-toplevel
  buffer = io.BytesIO()
  Image.fromarray(np.asarray(data.astronaut())).save(buffer, format="PNG")
  return buffer.getvalue()


def _client(url: str, model: str, photo: str, requests: int, offset: int) -> list[dict]:
  """``requests`` slider moves in a row; each one's round trip and the server's timing."""
  times = []
  for k in range(requests):
    aus = [0.0] * 17
    aus[8] = round(5.0 * ((k + offset) % 50) / 49, 3)  # AU12 dragged over its range
    start = time.perf_counter()
    answer = _call(f"{url}/api/edit", {"model": model, "photo": photo, "aus": aus})
    times.append({"round_trip_ms": 1e3 * (time.perf_counter() - start), **answer["timing"]})
  return times


def _percentile(values, q: float) -> float:
  values = sorted(values)
  return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def measure(label: str, model: str, requests: int, clients: int) -> list[dict]:
  server = Server(model)
  try:
    name = _call(f"{server.url}/api/info")["models"][0]["name"]
    size = _call(f"{server.url}/api/info")["models"][0]["size"]
    photo_ids = {"sample-0": "sample-0",
                 "astronaut": _call(f"{server.url}/api/photos?model={name}", _astronaut_png(),
                                    {"X-Filename": "astronaut.png"})["id"]}
    rows = []
    for photo in PHOTOS:
      _client(server.url, name, photo_ids[photo], 3, 0)  # warm the photo's crop and caches
      for count in (1, clients):
        calls = _call(f"{server.url}/api/health")["calls"][name]
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
          runs = list(pool.map(lambda c: _client(server.url, name, photo_ids[photo], requests,
                                                 7 * c), range(count)))
        wall = time.perf_counter() - start
        calls = _call(f"{server.url}/api/health")["calls"][name] - calls
        times = [t for run in runs for t in run]
        round_trips = [t["round_trip_ms"] for t in times]
        rows.append({
            "model": label, "crop_px": size, "photo": photo, "clients": count,
            "median_ms": benchlib.median(round_trips), "p90_ms": _percentile(round_trips, 0.9),
            "model_ms": benchlib.median([t["model_ms"] for t in times]),
            "paste_ms": benchlib.median([t["paste_ms"] for t in times]),
            "edits_per_s": len(times) / wall, "rows_per_call": len(times) / max(calls, 1)})
        print(f"  {label} {photo} x{count}: median {rows[-1]['median_ms']:.0f} ms", flush=True)
    return rows
  finally:
    server.close()


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--requests", type=int, default=40, help="edits per client and row")
  parser.add_argument("--clients", type=int, default=4)
  parser.add_argument("--out", type=Path, help="also write the rows and machine facts as JSON")
  args = parser.parse_args()
  info = benchlib.machine_info()
  benchlib.print_machine(info)
  rows = []
  with tempfile.TemporaryDirectory(prefix="serve_latency_") as tmp:
    paper = paper_size_export(Path(tmp) / "ganimation_128")
    for label, model in (("GANimation :demo (bundled)", "synthfaces/ganimation"),
                         ("GANimation paper size", str(paper))):
      rows += measure(label, model, args.requests, args.clients)
  headers = ["model", "crop px", "photo", "clients", "median ms", "p90 ms", "model ms",
             "paste + encode ms", "edits/s", "rows per call"]
  print(benchlib.markdown_table(headers, [[r["model"], r["crop_px"], r["photo"], r["clients"],
                                           r["median_ms"], r["p90_ms"], r["model_ms"],
                                           r["paste_ms"], r["edits_per_s"], r["rows_per_call"]]
                                          for r in rows]))
  if args.out:
    args.out.write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
  os.environ.setdefault("PYTHONUNBUFFERED", "1")
  main()
