"""``python -m fxs_jax.serve [--model=NAME_OR_DIR ...] [--port=8765]``: the expression editor in
your browser (needs the ``serve`` extra; ``faces`` for uploaded photos).

Without ``--model`` it serves the bundled SynthFaces models (GANimation first, then LGP-GAN, the
cGAN transfer and, when bundled, TextureGAN with its MotionGAN); ``--model`` (repeatable) takes a
training workdir, an export or a bundled name. It binds 127.0.0.1 (this machine only) unless
``--host`` says otherwise.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys

from fxs_jax.errors import UserError
from fxs_jax.serve import limits

DEFAULT_MODELS = ("synthfaces/ganimation", "synthfaces/lgpgan", "synthfaces/cgan_transfer",
                  "synthfaces/texturegan")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_args(argv) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog="python -m fxs_jax.serve",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("--model", action="append", help="a training workdir, an export or a "
                      "bundled name (repeat for several; default: the bundled models)")
  parser.add_argument("--host", default="127.0.0.1", help="address to bind (default this "
                      "machine only); the editor answers requests for this name and loopback")
  parser.add_argument("--port", type=int, default=8765)
  defaults = limits.Limits()
  parser.add_argument("--timeout", type=float, default=defaults.timeout,
                      help="seconds a request may take, queueing included")
  parser.add_argument("--max_upload_mb", type=float, default=defaults.max_upload_mb)
  parser.add_argument("--max_megapixels", type=float, default=defaults.max_megapixels)
  parser.add_argument("--memory_mb", type=float, default=defaults.memory_mb,
                      help="MB of photos, results and caches the editor keeps (least recently "
                      "used dropped first)")
  return parser.parse_args(argv)


def check_args(args):
  """The editor's :class:`~fxs_jax.serve.limits.Limits` from the flags; UserError for a bad
  flag."""
  if not 0 <= args.port <= 65535:
    raise UserError(f"--port={args.port}: a port is a number in [0, 65535]; pass e.g. "
                    "--port=8765.")
  return limits.Limits(timeout=args.timeout, max_upload_mb=args.max_upload_mb,
                       max_megapixels=args.max_megapixels, memory_mb=args.memory_mb)


def load_models(names) -> dict:
  """``{name: TrainedModel}`` of ``names``, or of the bundled models the editor serves."""
  import fxs_jax  # lazy: JAX, so that --help and flag errors answer at once
  from fxs_jax import inference  # lazy: JAX, so that --help and flag errors answer at once
  if not names:
    bundled = set(inference.bundled_names())
    names = [n for n in DEFAULT_MODELS if n in bundled]
  return {name: fxs_jax.load(name) for name in names}


def main(argv=None) -> int:
  try:
    import uvicorn  # pylint: disable=import-outside-toplevel
    from fxs_jax.serve import app  # lazy: Starlette and JAX, from the optional serve extra
  except ImportError as e:
    print(f"python -m fxs_jax.serve needs the serve extra ({e}): pip install -e \".[serve,faces]\"",
          file=sys.stderr)
    return 1
  args = parse_args(sys.argv[1:] if argv is None else argv)
  try:
    limits = check_args(args)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  handler = logging.StreamHandler()
  handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
  logging.getLogger("fxs_jax.serve").addHandler(handler)
  logging.getLogger("fxs_jax.serve").setLevel(logging.INFO)
  logging.getLogger("fxs_jax.serve").propagate = False
  try:  # before minutes of loading and compiling
    with socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET) as probe:
      probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      probe.bind((args.host, args.port))
  except OSError as e:
    print(f"error: cannot serve on {args.host}:{args.port} ({e.strerror}); pick another --port.",
          file=sys.stderr)
    return 1
  try:
    models = load_models(args.model)
    web_app = app.create_app(models, hosts=(args.host,), limits=limits)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  if args.host not in LOOPBACK:
    print(f"warning: binding {args.host}: anyone who can reach this machine can use the editor.",
          file=sys.stderr)
  host = f"[{args.host}]" if ":" in args.host else args.host
  print(f"fxs_jax editor: http://{host}:{args.port}/  ({', '.join(models)}; Ctrl-C stops)",
        flush=True)
  try:
    uvicorn.run(web_app, host=args.host, port=args.port, log_level="warning")
  finally:  # also when the port is taken: the warm-up must not be inside XLA at exit
    web_app.state.editor.close()
  return 0


if __name__ == "__main__":
  sys.exit(main())
