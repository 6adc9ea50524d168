"""Peak memory of the browser editor under a stream of large photos: its real resident set.

    python experiments/photos/serve_memory.py [--uploads=40] [--megapixels=15] [--download]

Starts ``python -m fxs_jax.serve --model=synthfaces/ganimation`` (its default limits) in a
subprocess, uploads ``--uploads`` JPEGs of ``--megapixels`` MP (scikit-image's astronaut
enlarged on a smooth random background: random noise compresses too badly to stay under the
upload limit), edits each one's face and, with ``--download``, downloads the edited photo at
full size. Prints the server's resident set (``VmRSS``) after every few photos and its peak
(``VmHWM``) at the end, both read from ``/proc/<pid>/status``, and what the server says it keeps
(``/api/health``'s ``kept``, when it says).
"""

from __future__ import annotations

import argparse
import io
import json
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
from PIL import Image


def photos(count: int, megapixels: float, seed: int = 0) -> list[bytes]:
  """``count`` different JPEGs of about ``megapixels`` MP, 4:3, one face each."""
  import skimage.data  # pylint: disable=import-outside-toplevel
  height = int(round((megapixels * 1e6 * 3 / 4) ** 0.5))
  width = int(round(height * 4 / 3))
  face = Image.fromarray(skimage.data.astronaut()).resize((height, height), Image.BICUBIC)
  rng = np.random.default_rng(seed)
  made = []
  for _ in range(count):
    coarse = rng.integers(0, 255, (height // 64, width // 64, 3), np.uint8)
    canvas = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
    canvas.paste(face, (int(rng.integers(0, width - height)), 0))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=90)
    made.append(buffer.getvalue())
  return made


def status(pid: int) -> dict:
  """``/proc/<pid>/status``'s memory lines, in MB."""
  fields = {}
  with open(f"/proc/{pid}/status", encoding="ascii") as f:
    for line in f:
      key, _, value = line.partition(":")
      if key in ("VmRSS", "VmHWM"):
        fields[key] = int(value.split()[0]) / 1024
  return fields


def call(url: str, data: bytes | None = None, headers: dict | None = None):
  request = urllib.request.Request(url, data=data, headers=headers or {})
  with urllib.request.urlopen(request, timeout=600) as response:
    body = response.read()
    kind = response.headers.get("Content-Type", "")
    return json.loads(body) if kind.startswith("application/json") else body


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--uploads", type=int, default=40)
  parser.add_argument("--megapixels", type=float, default=15.0)
  parser.add_argument("--download", action="store_true", help="also download each edit")
  parser.add_argument("--distinct", type=int, default=4, help="different photos, cycled")
  args = parser.parse_args()
  jpegs = photos(min(args.distinct, args.uploads), args.megapixels)
  print(f"{len(jpegs)} JPEGs of {args.megapixels:g} MP, "
        f"{np.mean([len(j) for j in jpegs]) / 2**20:.1f} MB each", flush=True)
  with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
  server = subprocess.Popen([sys.executable, "-m", "fxs_jax.serve",  # no 504 on a busy machine
                             "--model=synthfaces/ganimation", f"--port={port}", "--timeout=600"])
  url = f"http://127.0.0.1:{port}"
  try:
    deadline = time.monotonic() + 600
    while True:
      try:
        if call(f"{url}/api/health")["ready"]:
          break
      except OSError:
        pass
      if time.monotonic() > deadline or server.poll() is not None:
        raise RuntimeError("the editor did not start")
      time.sleep(0.5)
    print(f"ready: {status(server.pid)}", flush=True)
    start = time.monotonic()
    aus = [0.0] * 17
    aus[8] = 4.0  # AU12, lip corner puller
    for k in range(args.uploads):
      photo = call(f"{url}/api/photos", jpegs[k % len(jpegs)],
                   {"X-Filename": f"big_{k}.jpg", "Content-Type": "image/jpeg"})
      edit = call(f"{url}/api/edit", json.dumps(
          {"photo": photo["id"], "aus": aus, "faces": [0]}).encode(),
                  {"Content-Type": "application/json"})
      if args.download:
        call(url + edit["downloads"]["png"])
      if (k + 1) % 5 == 0 or k == 0:
        kept = call(f"{url}/api/health").get("kept")
        print(f"{k + 1:3d} photos, {time.monotonic() - start:5.0f} s: {status(server.pid)}"
              + (f" kept {kept}" if kept else ""), flush=True)
    final = status(server.pid)
    print(f"peak resident set {final['VmHWM']:.0f} MB, now {final['VmRSS']:.0f} MB", flush=True)
  finally:
    server.terminate()
    server.wait(60)


if __name__ == "__main__":
  main()
