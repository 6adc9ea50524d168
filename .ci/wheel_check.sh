#!/usr/bin/env bash
# CI: a plain (non-editable) install works outside the checkout. Builds the wheel, installs it with
# the `faces` extra into a fresh venv in a temporary folder and, from that folder, runs the
# README's bundled-model snippet, the PyTorch converter on the test fixtures, and a `:smoke`
# train then eval. One line per step; on a failure, the end of its log, and exit 1.
#   .ci/wheel_check.sh        (KEEP=1: keep the temporary folder; PYTHON: the interpreter)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
if [ "${KEEP:-0}" = 1 ]; then echo "temporary folder: $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi
mkdir -p "$tmp/src" "$tmp/dist" "$tmp/logs" "$tmp/work"
export JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}"
export TFDS_DATA_DIR="$tmp/tfds" FXS_JAX_EVALUATOR_DIR="$tmp/evaluators"
export PYTHONPATH="" PIP_DISABLE_PIP_VERSION_CHECK=1
unset FXS_JAX_DATASETS_DIR
started=$SECONDS

step() {  # step NAME COMMAND...: runs it, its output in logs/NAME.log
  local name=$1 start=$SECONDS
  shift
  if "$@" >"$tmp/logs/$name.log" 2>&1; then
    echo "ok   $name ($((SECONDS - start)) s)"
  else
    echo "FAIL $name ($((SECONDS - start)) s); the end of its log:"
    tail -n 40 "$tmp/logs/$name.log"
    exit 1
  fi
}

# The build reads a copy: building in the checkout would leave build/ and *.egg-info there.
copy_sources() {
  tar -C "$repo" --exclude=__pycache__ -cf - pyproject.toml README.md fxs_jax datasets \
    | tar -C "$tmp/src" -xf -
}
step copy-sources copy_sources
step venv "${PYTHON:-python3}" -m venv "$tmp/venv"
py="$tmp/venv/bin/python"
step build-wheel "$py" -m pip wheel --no-deps -w "$tmp/dist" "$tmp/src"
wheel=$(ls "$tmp/dist"/fxs_jax-*.whl)
step install-wheel "$py" -m pip install "$wheel[faces]"

cd "$tmp/work"  # not the checkout: nothing of it is importable from here
step imports-from-venv "$py" - <<'EOF'
import importlib.util, sys
import fxs_jax, fxs_jax_datasets
from fxs_jax.data import builders
for what in (fxs_jax.__file__, fxs_jax_datasets.__file__, builders.datasets_dir()):
  assert str(what).startswith(sys.prefix), f"{what} is not in the venv {sys.prefix}"
assert importlib.util.find_spec("configs") is None, "the repository's configs/ is importable"
print("fxs_jax and its dataset builders from", sys.prefix)
EOF

sed -n '/<!-- snippet: bundled -->/,/<!-- \/snippet -->/p' "$repo/README.md" \
  | grep -v '^<!--' | grep -v '^```' >bundled_snippet.py
[ -s bundled_snippet.py ] || { echo "FAIL README.md has no <!-- snippet: bundled --> block"; exit 1; }
step readme-bundled-snippet "$py" bundled_snippet.py

fixtures="$repo/tests/data/torch_ganimation"
# The converter's flags for the fixtures' tiny sizes (experiments/make_torch_ganimation_fixtures.py).
mapfile -t sizes < <("$py" - "$repo/experiments/make_torch_ganimation_fixtures.py" <<'EOF'
import runpy, sys
sizes = runpy.run_path(sys.argv[1])["SIZES"]
for key, value in sizes.items():
  print(f"--image_size={value}" if key == "image_size" else f"--config.model.{key}={value}")
EOF
)
step convert-torch "$py" -m fxs_jax.convert_torch --generator="$fixtures/official_G.pth" \
  --critic="$fixtures/official_D.pth" "${sizes[@]}" --out="$tmp/work/converted"
step load-converted "$py" - <<'EOF'
import numpy as np, fxs_jax
faces = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
edited = fxs_jax.load("converted").edit(faces, emotion="happy")
assert edited.shape == faces.shape and edited.dtype == np.uint8, (edited.shape, edited.dtype)
print("the converted export edits", edited.shape)
EOF

config="$repo/configs/ganimation.py:smoke"
step smoke-train "$py" -m fxs_jax.main --config="$config" --workdir="$tmp/work/run" --mode=train
step smoke-eval "$py" -m fxs_jax.main --config="$config" --workdir="$tmp/work/run" --mode=eval
step eval-written test -s "$tmp/work/run/eval.json"
echo "wheel check passed in $((SECONDS - started)) s"
