"""Writes the config defaults the package ships (``fxs_jax/pretrained/configs/<name>.json``).

  python experiments/export_configs.py [--check]

Each is ``configs/<name>.py``'s ``get_config()`` (the paper setting) for the names in
``fxs_jax.config_upgrade.SHIPPED``, read by ``fxs_jax.config_upgrade.shipped_config`` where a plain
install has no ``configs/`` folder (the PyTorch converter's GANimation sizes). Run it
after changing one of those configs; ``--check`` only reports the files that differ (exit 1).
``tests/test_config_upgrade.py`` fails while a shipped file differs from its config.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # configs/ and fxs_jax from this checkout

from fxs_jax import config_upgrade  # pylint: disable=g-import-not-at-top,wrong-import-position


def text_of(name: str) -> str:
  """The JSON ``configs/<name>.py``'s default is shipped as."""
  config = importlib.import_module(f"configs.{name}").get_config()
  return config.to_json_best_effort(indent=2, sort_keys=True) + "\n"


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--check", action="store_true", help="report differences, write nothing")
  args = parser.parse_args()
  stale = []
  for name in config_upgrade.SHIPPED:
    path, text = config_upgrade.SHIPPED_DIR / f"{name}.json", text_of(name)
    if path.is_file() and path.read_text() == text:
      continue
    stale.append(path)
    if not args.check:
      path.parent.mkdir(parents=True, exist_ok=True)
      path.write_text(text)
  verb = "differs from its config" if args.check else "written"
  for path in stale:
    print(f"{path.relative_to(ROOT)}: {verb}")
  if not stale:
    print("The shipped configs match configs/.")
  return 1 if args.check and stale else 0


if __name__ == "__main__":
  sys.exit(main())
