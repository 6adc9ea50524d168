"""Writes the bundled SynthFaces models (``fxs_jax/pretrained/synthfaces/<name>/``) from trained runs.

  python experiments/bundle_models.py ganimation=W1 lgpgan=W2 cgan_transfer=W3 motiongan=W4 \
      texturegan=W5 [--out=fxs_jax/pretrained/synthfaces]

Each ``name=WORKDIR`` is exported with float16 storage (``fxs_jax.export(..., dtype="float16")``),
with the run's ``eval.json`` copied beside it, the command that trains it (:data:`COMMANDS`) and
the one that evaluates the bundle (``experiments/eval_bundle.py``: run it after bundling so that
the bundle's ``eval.json`` is the one its command writes) in the manifest. A TextureGAN bundle names the bundled MotionGAN as its motion
model (``config.video.motion = "synthfaces/motiongan"``). Existing bundles of the named models are
replaced; the others are left alone. Prints each bundle's size and the total.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import eval_bundle  # pylint: disable=g-import-not-at-top,wrong-import-position
from fxs_jax import inference  # pylint: disable=g-import-not-at-top,wrong-import-position

_TRAIN = "python -m fxs_jax.main --config=configs/{config} --workdir=W"
_RESULTS = "experiments/results/bundle_{name}/ (docs: each paper's page, 'The bundled model')"
COMMANDS = {
    "ganimation": "ganimation.py:demo_long",
    "lgpgan": "lgpgan.py:demo_long",
    "cgan_transfer": "cgan_transfer.py:demo",
    "motiongan": "motiongan.py:demo",
    "texturegan": "texturegan.py:demo",
}


def bundle(name: str, workdir: Path, out_root: Path) -> int:
  """Exports one bundle; returns its size in bytes."""
  if name not in COMMANDS:
    raise SystemExit(f"unknown model {name!r}: choose from {sorted(COMMANDS)}")
  config = COMMANDS[name]
  out = out_root / name
  shutil.rmtree(out, ignore_errors=True)
  inference.export(workdir, out, dtype="float16", command=_TRAIN.format(config=config),
                   eval_command=eval_bundle.command(f"synthfaces/{name}", "test", 0),
                   results=_RESULTS.format(name=name),
                   trained_on="SynthFaces (synthetic faces: not for real photos)")
  manifest = json.loads((out / inference.MANIFEST).read_text())
  manifest["exported_from"] = Path(workdir).name  # no machine paths in the repository
  (out / inference.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
  cfg = json.loads((out / "config.json").read_text())
  cfg["data"]["data_dir"] = ""  # no machine paths: the default TFDS folder
  if name == "texturegan":
    cfg["video"]["motion"] = "synthfaces/motiongan"
  (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
  evaluation = Path(workdir) / "eval.json"
  if evaluation.is_file():
    result = json.loads(evaluation.read_text())
    result.pop("workdir", None)
    (out / "eval.json").write_text(json.dumps(result, indent=1) + "\n")
  return sum(p.stat().st_size for p in out.iterdir())


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("runs", nargs="+", help="name=WORKDIR")
  parser.add_argument("--out", default=str(ROOT / "fxs_jax" / "pretrained" / "synthfaces"))
  args = parser.parse_args()
  out_root = Path(args.out)
  out_root.mkdir(parents=True, exist_ok=True)
  for item in args.runs:
    name, _, workdir = item.partition("=")
    size = bundle(name, Path(workdir), out_root)
    print(f"{name}: {size / 2**20:.1f} MiB", flush=True)
  total = sum(p.stat().st_size for p in out_root.rglob("*") if p.is_file())
  print(f"total in {out_root}: {total / 2**20:.1f} MiB")


if __name__ == "__main__":
  main()
