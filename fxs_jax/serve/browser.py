"""The editor in a thread and in headless Chromium: for its tests, the latency benchmark and
the docs' screenshot (``docs/photos_and_editor.md``).

    python -m fxs_jax.serve.browser experiments/serve_editor.png  # [--model=NAME_OR_DIR]

Chromium is Debian's (``apt-get install chromium``), driven by the playwright package with
``executable_path`` (never ``playwright install``: its browser downloads are not used).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")


def find_chromium() -> str | None:
  """``$FXS_CHROMIUM``, else the first of :data:`CHROMIUM_NAMES` on PATH, else None."""
  given = os.environ.get("FXS_CHROMIUM")
  if given:
    return given
  return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


@contextlib.contextmanager
def serving(app, host: str = "127.0.0.1"):
  """Serves ``app`` with uvicorn in a daemon thread on a free port; yields its base URL."""
  import uvicorn  # pylint: disable=import-outside-toplevel
  sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
  sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
  sock.bind((host, 0))
  server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
  thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                            name="fxs-serve uvicorn")
  thread.start()
  deadline = time.monotonic() + 30
  while not server.started:
    if time.monotonic() > deadline or not thread.is_alive():
      raise RuntimeError("uvicorn did not start")
    time.sleep(0.05)
  try:
    yield f"http://{host}:{sock.getsockname()[1]}"
  finally:
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@contextlib.contextmanager
def chromium_page(width: int = 1360, height: int = 900):
  """A page of headless Debian Chromium (playwright, ``executable_path``); yields the page."""
  from playwright.sync_api import sync_playwright  # pylint: disable=import-outside-toplevel
  executable = find_chromium()
  if executable is None:
    raise RuntimeError("No chromium binary on PATH: apt-get install chromium (or set "
                       "FXS_CHROMIUM).")
  with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
    try:
      context = browser.new_context(viewport={"width": width, "height": height},
                                    accept_downloads=True)
      yield context.new_page()
    finally:
      browser.close()


def wait_until_ready(url: str, timeout_s: float = 600) -> None:
  """Waits until the editor at ``url`` has compiled its models (``/api/health``)."""
  deadline = time.monotonic() + timeout_s
  while True:
    with urllib.request.urlopen(f"{url}/api/health", timeout=30) as response:
      if json.loads(response.read())["ready"]:
        return
    if time.monotonic() > deadline:
      raise TimeoutError(f"the editor at {url} did not compile its models in {timeout_s:g} s")
    time.sleep(0.5)


def wait_idle(page, timeout_ms: float = 120_000) -> str:
  """Waits until the page has a photo and no edit running or waiting; returns the result's
  ``src``."""
  page.wait_for_function("() => state.photo && !state.editing && !state.pending",
                         timeout=timeout_ms)
  return page.get_attribute("#result", "src")


def result_changes(page, before: str, timeout_ms: float = 60_000) -> str:
  """Waits until the result image's ``src`` differs from ``before``; returns it."""
  page.wait_for_function("before => { const r = document.getElementById('result');"
                         " return !r.hidden && r.src && r.src !== before; }",
                         arg=before, timeout=timeout_ms)
  return page.get_attribute("#result", "src")


def screenshot(url: str, out: Path) -> Path:
  """The editor with a sample face smiling (the "happy" preset, AU12 raised further) and its
  attention mask shown, as a PNG."""
  with chromium_page() as page:
    wait_until_ready(url)
    page.goto(url)
    page.click("#samples button[data-sample='2']")
    wait_idle(page)
    page.click("#show-mask")
    page.click(".emotions button[data-emotion='happy']")
    page.wait_for_selector("#strip-mask-figure:not([hidden])")
    wait_idle(page)
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=True)
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("out", type=Path)
  parser.add_argument("--model", action="append")
  args = parser.parse_args()
  from fxs_jax.serve import __main__ as cli  # lazy: JAX, after the flags are read
  from fxs_jax.serve import app  # lazy: Starlette and JAX, after the flags are read
  web_app = app.create_app(cli.load_models(args.model))
  try:
    with serving(web_app) as url:
      print(screenshot(url, args.out))
  finally:
    web_app.state.editor.close()


if __name__ == "__main__":
  main()
