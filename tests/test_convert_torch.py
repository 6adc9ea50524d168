"""fxs_jax.convert_torch against the PyTorch GANimation networks of both codebases.

The oracle is PyTorch itself: ``tests/data/torch_ganimation/`` holds tiny random networks saved as
each codebase saves them and their outputs on a fixed input
(``experiments/make_torch_ganimation_fixtures.py``), so the parity runs without torch; with torch
installed the same check also runs on freshly built networks.
"""

import functools
import importlib.util
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

import fxs_jax
from configs import ganimation as ganimation_config
from fxs_jax import convert_torch
from fxs_jax.errors import UserError
from fxs_jax.eval import torch_checkpoint
from fxs_jax.nn import fastconv

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "torch_ganimation"
ATOL = 1e-5
_spec = importlib.util.spec_from_file_location(
    "make_torch_ganimation_fixtures", REPO / "experiments" / "make_torch_ganimation_fixtures.py")
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)


def tiny_config(**model):
  """``:smoke`` with the fixtures' sizes (and ``model`` overrides)."""
  config = ganimation_config.get_config("smoke")
  for field, value in {**fixtures.SIZES, **model}.items():
    config.model[field] = value
  return config


def cli_overrides() -> list[str]:
  """The fixtures' sizes as overrides of ``--config`` (default: the shipped paper setting)."""
  return [f"--config.model.{k}={v}" for k, v in fixtures.SIZES.items() if k != "image_size"] + [
      f"--image_size={fixtures.SIZES['image_size']}"]


def test_default_config_is_the_papers_as_shipped():
  shipped = convert_torch.default_config(96)
  paper = ganimation_config.get_config()
  paper.unlock().model.image_size = 96
  assert shipped.to_dict() == paper.to_dict()


@functools.partial(jax.jit, static_argnums=0)
def _run(graphdef, state, image, aus):
  return nnx.merge(graphdef, state)(image, aus)


@functools.partial(jax.jit, static_argnums=0)
def _run_critic(graphdef, state, image):
  return nnx.merge(graphdef, state)(image)


def torch_vs_ours(converted, reference: dict) -> dict[str, float]:
  """Max |difference| of each output: ours (NHWC) vs PyTorch's (NCHW) on the same input."""
  nhwc = lambda x: np.asarray(x).transpose(0, 2, 3, 1)
  image = nhwc(reference["image"])
  graphdef, state = nnx.split(converted.model.generator)
  color, attention = _run(graphdef, state, image, reference["aus"])
  critic_graphdef, critic_state = nnx.split(converted.critic)
  critic_map, critic_aus = _run_critic(critic_graphdef, critic_state, image)
  ours = {"color": color, "attention": attention, "critic_map": critic_map}
  diffs = {name: float(np.max(np.abs(np.asarray(ours[name]) - nhwc(reference[name]))))
           for name in ours}
  diffs["critic_aus"] = float(np.max(np.abs(np.asarray(critic_aus) - reference["critic_aus"])))
  return diffs


@pytest.mark.parametrize("layout", fixtures.LAYOUTS)
def test_matches_stored_torch_outputs(layout):
  converted = convert_torch.convert_ganimation(DATA / f"{layout}_G.pth", DATA / f"{layout}_D.pth",
                                               config=tiny_config())
  assert converted.layout == layout
  reference = dict(np.load(DATA / f"{layout}_outputs.npz"))
  assert np.std(reference["color"]) > 0.1 and np.std(reference["critic_aus"]) > 0.1  # not trivial
  diffs = torch_vs_ours(converted, reference)
  assert max(diffs.values()) < ATOL, diffs


def test_plain_and_fast_convs_agree_on_converted_params():
  converted = convert_torch.convert_ganimation(DATA / "official_G.pth", config=tiny_config())
  reference = np.load(DATA / "official_outputs.npz")
  image = reference["image"].transpose(0, 2, 3, 1)
  graphdef, state = nnx.split(converted.model.generator)
  with fastconv.conv_impl("plain"):
    color = jax.jit(lambda s: nnx.merge(graphdef, s)(image, reference["aus"])[0])(state)
  np.testing.assert_allclose(color, reference["color"].transpose(0, 2, 3, 1), atol=ATOL)


def _npz(tmp_path, name, state: dict) -> Path:
  path = tmp_path / f"{name}.npz"
  np.savez(path, **state)
  return path


def test_dataparallel_prefix_and_explicit_layout(tmp_path):
  state = torch_checkpoint.read_state_dict(DATA / "replicate_G.pth")
  prefixed = _npz(tmp_path, "G", {f"module.{k}": v for k, v in state.items()})
  a = convert_torch.convert_ganimation(prefixed, layout="replicate", config=tiny_config())
  b = convert_torch.convert_ganimation(DATA / "replicate_G.pth", config=tiny_config())
  for x, y in zip(jax.tree.leaves(a.model.params), jax.tree.leaves(b.model.params)):
    np.testing.assert_array_equal(x, y)


def _save_torch03(state: dict, path: Path) -> None:
  """A file as PyTorch 0.3 (the official code's version) wrote ``torch.save(state_dict)`` from a
  GPU: the pre-1.6 format, tensors rebuilt by ``torch._utils._rebuild_tensor(storage, offset,
  size, stride)``, ``torch.cuda.FloatStorage`` storages. Written from the format (no torch)."""
  text = lambda s: b"X" + struct.pack("<I", len(s)) + s.encode()
  ints = lambda vs: b"(" + b"".join(b"J" + struct.pack("<i", v) for v in vs) + b"t"
  arrays = [np.ascontiguousarray(v, np.float32) for v in state.values()]
  body = [b"\x80\x02ccollections\nOrderedDict\n)R("]
  for key, (name, value) in enumerate(zip(state, arrays)):
    storage = (b"(" + text("storage") + b"ctorch.cuda\nFloatStorage\n" + text(str(key))
               + text("cuda:0") + b"J" + struct.pack("<i", value.size) + b"NtQ")
    body += [text(name), b"ctorch._utils\n_rebuild_tensor\n(", storage, b"J\0\0\0\0",
             ints(value.shape), ints([s // 4 for s in value.strides]), b"tR"]
  with open(path, "wb") as f:
    for header in (0x1950a86a20f9469cfc6c, 1001, {"protocol_version": 1001, "little_endian": True,
                                                  "type_sizes": {"short": 2, "int": 4, "long": 8}}):
      f.write(pickle.dumps(header, protocol=2))
    f.write(b"".join(body) + b"u.")
    f.write(pickle.dumps([str(k) for k in range(len(arrays))], protocol=2))
    for value in arrays:
      f.write(struct.pack("<q", value.size) + value.tobytes())


def test_reads_pytorch_03_files(tmp_path):
  state = torch_checkpoint.read_state_dict(DATA / "official_G.pth")
  _save_torch03(state, tmp_path / "net_epoch_30_id_G.pth")
  a = convert_torch.convert_ganimation(tmp_path / "net_epoch_30_id_G.pth", config=tiny_config())
  b = convert_torch.convert_ganimation(DATA / "official_G.pth", config=tiny_config())
  for x, y in zip(jax.tree.leaves(a.model.params), jax.tree.leaves(b.model.params)):
    np.testing.assert_array_equal(x, y)


def test_live_torch_networks(tmp_path):
  """With torch: fresh random networks (another seed; the replicate with --use_dropout, the
  official one saved from DataParallel), saved, converted, compared."""
  torch = pytest.importorskip("torch")
  for layout in fixtures.LAYOUTS:
    paths = fixtures.save(layout, tmp_path / layout, seed=7, use_dropout=layout == "replicate")
    if layout == "official":
      state = torch.load(paths["G"])
      torch.save({f"module.{k}": v for k, v in state.items()}, paths["G"])
    converted = convert_torch.convert_ganimation(paths["G"], paths["D"], config=tiny_config())
    diffs = torch_vs_ours(converted, dict(np.load(paths["outputs"])))
    assert max(diffs.values()) < ATOL, (layout, diffs)


def _error(**kwargs) -> str:
  kwargs.setdefault("config", tiny_config())
  with pytest.raises(UserError) as info:
    convert_torch.convert_ganimation(**kwargs)
  message = str(info.value)
  assert "\n" not in message, message
  return message


def test_errors_name_the_problem_and_the_fix(tmp_path):
  g, d = DATA / "official_G.pth", DATA / "official_D.pth"
  message = _error(generator_pth=tmp_path / "nope.pth")
  assert "does not exist" in message and "nope.pth" in message

  message = _error(generator_pth=d)
  assert "holds a GANimation critic" in message and "--critic" in message
  message = _error(generator_pth=g, critic_pth=g)
  assert "holds a GANimation generator" in message and "--generator" in message

  message = _error(generator_pth=_npz(tmp_path, "other", {"fc.weight": np.zeros((2, 2))}))
  assert "match neither GANimation layout" in message and "fc.weight" in message

  message = _error(generator_pth=g, layout="replicate")
  assert "--layout=official" in message

  state = torch_checkpoint.read_state_dict(g)
  broken = {k: v for k, v in state.items() if k != "main.6.weight"}
  broken["main.6.extra"] = np.zeros(3, np.float32)
  message = _error(generator_pth=_npz(tmp_path, "broken", broken))
  assert "missing main.6.weight" in message and "unexpected main.6.extra" in message

  # Sizes: the key, its shape, the field and the flag.
  message = _error(generator_pth=g, config=tiny_config(gen_base_channels=64))
  assert "main.0.weight has shape (4, 20, 7, 7)" in message
  assert "gen_base_channels=64" in message and "--config.model.gen_base_channels=4" in message
  message = _error(generator_pth=g, config=tiny_config(gen_num_res_blocks=6))
  assert "2 residual blocks" in message and "--config.model.gen_num_res_blocks=2" in message
  message = _error(generator_pth=g, critic_pth=d, config=tiny_config(image_size=128))
  assert "conv2.weight has shape (17, 32, 2, 2)" in message and "--image_size=32" in message
  message = _error(generator_pth=g, config=tiny_config(upsample="resize"))
  assert "--config.model.upsample=transpose" in message

  wrong = dict(state)
  wrong["main.3.weight"] = np.zeros((8, 4, 3, 3), np.float32)
  message = _error(generator_pth=_npz(tmp_path, "wrong", wrong))
  assert "main.3.weight has shape (8, 4, 3, 3), expected (8, 4, 4, 4)" in message

  batchnorm = torch_checkpoint.read_state_dict(DATA / "replicate_G.pth")
  batchnorm["model.1.running_mean"] = np.zeros(4, np.float32)
  message = _error(generator_pth=_npz(tmp_path, "bn", batchnorm))
  assert "--norm=batch" in message and "model.1.running_mean" in message

  (tmp_path / "full").mkdir()
  (tmp_path / "full" / "x").write_text("x")
  message = _error(generator_pth=g, out_dir=tmp_path / "full")
  assert "not empty" in message


def test_cli_writes_a_loadable_export(tmp_path):
  """From a folder without the repository's configs/ (and a config file given by its path)."""
  out = tmp_path / "export"
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ""}  # fxs_jax as installed
  command = [sys.executable, "-m", "fxs_jax.convert_torch",
             f"--generator={DATA / 'official_G.pth'}", f"--critic={DATA / 'official_D.pth'}",
             *cli_overrides(), f"--out={out}"]
  done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                        check=False)
  assert done.returncode == 0, done.stderr[-2000:]
  assert (out / convert_torch.CRITIC_FILE).is_file()

  model = fxs_jax.load(out)
  reference = np.load(DATA / "official_outputs.npz")
  outputs = model.predict("edit", {"image": reference["image"].transpose(0, 2, 3, 1),
                                   "target_aus": reference["aus"]})
  np.testing.assert_allclose(outputs["color"], reference["color"].transpose(0, 2, 3, 1),
                             atol=ATOL)
  faces = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
  edited = model.edit(faces, emotion="happy")  # the batch shape above: no second compile
  assert edited.shape == faces.shape and edited.dtype == np.uint8

  bad = subprocess.run([*command[:3], f"--config={REPO / 'configs' / 'ganimation.py'}:smoke",
                        "--generator=/no/such.pth", f"--out={tmp_path / 'x'}"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
  assert bad.returncode != 0
  assert bad.stderr.strip().splitlines()[-1].startswith("error: The generator file /no/such.pth")
