"""FID InceptionV3: the architecture against pytorch-fid's layer list, pooling / resize / conv
layouts against literal numpy, and the weight files (.npz, torch zip, torch legacy) round trips.

No torch here: the torch-format files are written by a minimal writer below, made from the
format as ``torch.serialization._save`` / ``_legacy_save`` define it.
"""

import os
import pickle
import struct
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fxs_jax.errors import UserError
from fxs_jax.eval import inception

# ---- a minimal torch.save writer (state_dicts of float32 / int64 tensors) ---------------------

_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_STORAGE = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage"}


def _global(module, name):
  return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _str(s):
  return b"X" + struct.pack("<I", len(s.encode())) + s.encode()


def _int(v):
  return b"J" + struct.pack("<i", v)


def _ints(values):
  return b"(" + b"".join(_int(v) for v in values) + b"t"


def _pickle_state_dict(arrays, legacy):
  """Protocol 2: OrderedDict of _rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())
  with storages as persistent ids ('storage', torch.XStorage, key, 'cpu', numel[, None]), and
  the OrderedDict's `_metadata` attribute."""
  out = [b"\x80\x02", _global("collections", "OrderedDict"), b")R("]
  for key, (name, value) in enumerate(arrays.items()):
    pid = (b"(" + _str("storage") + _global("torch", _STORAGE[value.dtype]) + _str(str(key))
           + _str("cpu") + _int(value.size) + (b"N" if legacy else b"") + b"tQ")
    out += [_str(name), _global("torch._utils", "_rebuild_tensor_v2"), b"(", pid, _int(0),
            _ints(value.shape), _ints([s // value.itemsize for s in value.strides]), b"\x89",
            _global("collections", "OrderedDict"), b")RtR"]
  # state_dict()'s `_metadata` attribute arrives as BUILD state after the items.
  metadata = (b"}" + _str("_metadata") + _global("collections", "OrderedDict") + b")R("
              + _str("") + b"}" + _str("version") + _int(1) + b"sus")
  return b"".join(out + [b"u", metadata, b"b."])


def save_torch_state_dict(state_dict, path, legacy=False):
  arrays = {k: np.ascontiguousarray(v) for k, v in state_dict.items()}
  data_pkl = _pickle_state_dict(arrays, legacy)
  if not legacy:  # torch >= 1.6: <dir>/data.pkl, <dir>/data/<key>, byteorder, version
    with zipfile.ZipFile(path, "w") as archive:
      archive.writestr("archive/data.pkl", data_pkl)
      archive.writestr("archive/byteorder", "little")
      for key, value in enumerate(arrays.values()):
        archive.writestr(f"archive/data/{key}", value.astype(value.dtype.newbyteorder("<"))
                         .tobytes())
      archive.writestr("archive/version", "3\n")
    return
  with open(path, "wb") as f:  # magic, version, sys_info, object, keys, (numel, bytes)...
    for header in (_LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True,
                                         "type_sizes": {"short": 2, "int": 4, "long": 8}}):
      f.write(pickle.dumps(header, protocol=2))
    f.write(data_pkl)
    f.write(pickle.dumps([str(k) for k in range(len(arrays))], protocol=2))
    for value in arrays.values():
      f.write(struct.pack("<q", value.size) + value.tobytes())


# ---- the architecture -------------------------------------------------------------------------

def _conv(cin, cout, kh, kw=None):
  """Params of torchvision's BasicConv2d: conv without bias + BN weight and bias."""
  return cin * cout * kh * (kh if kw is None else kw) + 2 * cout


def _expected_param_count():
  """Written from torchvision's Inception3(num_classes=1008, aux_logits=False) layer list."""
  stem = (_conv(3, 32, 3) + _conv(32, 32, 3) + _conv(32, 64, 3) + _conv(64, 80, 1)
          + _conv(80, 192, 3))

  def block_a(cin, pool):
    return (_conv(cin, 64, 1) + _conv(cin, 48, 1) + _conv(48, 64, 5) + _conv(cin, 64, 1)
            + _conv(64, 96, 3) + _conv(96, 96, 3) + _conv(cin, pool, 1))

  def block_c(c7):
    return (_conv(768, 192, 1) + _conv(768, c7, 1) + _conv(c7, c7, 1, 7) + _conv(c7, 192, 7, 1)
            + _conv(768, c7, 1) + 2 * _conv(c7, c7, 7, 1) + _conv(c7, c7, 1, 7)
            + _conv(c7, 192, 1, 7) + _conv(768, 192, 1))

  def block_e(cin):
    return (_conv(cin, 320, 1) + _conv(cin, 384, 1) + 2 * _conv(384, 384, 1, 3)
            + _conv(cin, 448, 1) + _conv(448, 384, 3) + 2 * _conv(384, 384, 1, 3)
            + _conv(cin, 192, 1))

  block_b = _conv(288, 384, 3) + _conv(288, 64, 1) + _conv(64, 96, 3) + _conv(96, 96, 3)
  block_d = (_conv(768, 192, 1) + _conv(192, 320, 3) + _conv(768, 192, 1)
             + _conv(192, 192, 1, 7) + _conv(192, 192, 7, 1) + _conv(192, 192, 3))
  return (stem + block_a(192, 32) + block_a(256, 64) + block_a(288, 64) + block_b
          + block_c(128) + 2 * block_c(160) + block_c(192) + block_d + block_e(1280)
          + block_e(2048) + 2048 * 1008 + 1008)


@pytest.fixture(scope="module")
def abstract():
  return nnx.split(nnx.eval_shape(lambda: inception.InceptionV3(nnx.Rngs(0))))


@pytest.fixture(scope="module")
def random_state(abstract):
  """Random params AND BN statistics (a mapping that swapped mean / var would show)."""
  rng = np.random.default_rng(0)
  flat = []
  for path, var in nnx.to_flat_state(abstract[1]):
    leaf, shape = path[-1], var.shape
    if leaf == "kernel":
      value = rng.normal(0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
    elif leaf in ("scale", "var"):
      value = rng.uniform(0.5, 1.5, shape)
    else:
      value = rng.normal(0, 0.1, shape)
    flat.append((path, var.replace(value=jnp.asarray(value, jnp.float32))))
  return nnx.from_flat_state(flat)


def test_param_count_matches_pytorch_fid_inception(abstract):
  count = sum(x.size for x in jax.tree.leaves(nnx.state(nnx.merge(*abstract), nnx.Param)))
  assert count == _expected_param_count()
  # torchvision lists inception_v3 at 27,161,264 params (1000 classes, with the aux head of
  # 128x768 1x1 + 768x128 5x5 convs and a 768->1000 fc); drop the aux head, add 8 classes.
  aux = (_conv(768, 128, 1) + _conv(128, 768, 5) + 768 * 1000 + 1000)
  assert count == 27_161_264 - aux + 8 * 2049 == 23_850_960


def test_state_dict_names_are_pytorch_fids(random_state, abstract):
  model = nnx.merge(abstract[0], random_state)
  state_dict = inception.to_state_dict(model)
  assert len(state_dict) == 94 * 5 + 2  # 94 BasicConv2d x (conv, 4 BN tensors) + fc
  assert state_dict["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
  assert state_dict["Mixed_6b.branch7x7_2.conv.weight"].shape == (128, 128, 1, 7)
  assert state_dict["Mixed_7c.branch3x3dbl_3b.bn.running_var"].shape == (384,)
  assert state_dict["fc.weight"].shape == (1008, 2048)
  assert (model.Mixed_7b.pool, model.Mixed_7c.pool) == ("avg", "max")
  # Which torch tensor lands on which Flax variable (the round trips below cannot tell).
  bn, conv = model.Mixed_6b.branch7x7_2.bn, model.Mixed_6b.branch7x7_2.conv
  prefix = "Mixed_6b.branch7x7_2."
  np.testing.assert_array_equal(state_dict[prefix + "bn.running_mean"], bn.mean[...])
  np.testing.assert_array_equal(state_dict[prefix + "bn.running_var"], bn.var[...])
  np.testing.assert_array_equal(state_dict[prefix + "bn.weight"], bn.scale[...])
  np.testing.assert_array_equal(state_dict[prefix + "bn.bias"], bn.bias[...])
  w_OIHW = state_dict[prefix + "conv.weight"]
  np.testing.assert_array_equal(w_OIHW[5, 7, 0, 2], conv.kernel[0, 2, 7, 5])
  np.testing.assert_array_equal(state_dict["fc.weight"][3, 11], model.fc.kernel[11, 3])


# ---- components against literal numpy ---------------------------------------------------------

def _torch_bilinear(img_HxWxC, out):
  """``F.interpolate(bilinear, align_corners=False)`` written out (PyTorch's index rule)."""
  def taps(n_in):
    src = np.maximum((np.arange(out) + 0.5) * n_in / out - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
    return i0, np.minimum(i0 + 1, n_in - 1), src - i0
  r0, r1, wr = taps(img_HxWxC.shape[0])
  c0, c1, wc = taps(img_HxWxC.shape[1])
  rows = img_HxWxC[r0] * (1 - wr)[:, None, None] + img_HxWxC[r1] * wr[:, None, None]
  return rows[:, c0] * (1 - wc)[None, :, None] + rows[:, c1] * wc[None, :, None]


@pytest.mark.parametrize("height,width,out", [(7, 7, 20), (20, 20, 7), (10, 13, 9)])
def test_resize_matches_torch_bilinear(height, width, out):
  img = np.random.default_rng(1).random((height, width, 2)).astype(np.float32)
  got = inception.resize_bilinear(jnp.asarray(img[None]), out)[0]
  np.testing.assert_allclose(got, _torch_bilinear(img.astype(np.float64), out), atol=1e-5)


def _windows(x_HxWxC, pad_value):
  padded = np.pad(x_HxWxC, ((1, 1), (1, 1), (0, 0)), constant_values=pad_value)
  h, w = x_HxWxC.shape[:2]
  return np.stack([padded[i:i + h, j:j + w] for i in range(3) for j in range(3)])


def test_pools_match_tensorflow_semantics():
  x = -np.random.default_rng(2).random((5, 6, 3)) - 1.0  # negative: zero padding would show
  avg = np.nanmean(_windows(x, np.nan), axis=0)  # padding left out of the mean
  np.testing.assert_allclose(inception.avg_pool_3x3_exclude_pad(jnp.asarray(x[None]))[0], avg,
                             rtol=1e-6)
  np.testing.assert_allclose(inception.max_pool_3x3(jnp.asarray(x[None]), 1, 1)[0],
                             _windows(x, -np.inf).max(axis=0), rtol=1e-6)
  strided = inception.max_pool_3x3(jnp.asarray(x[None]), 2)[0]  # VALID: (5,6) -> (2,2)
  np.testing.assert_allclose(strided, _windows(x, -np.inf).max(axis=0)[1:-1:2, 1:-1:2],
                             rtol=1e-6)


def test_basic_conv_from_torch_layout_matches_literal():
  """OIHW weights through the loader's layout change; a (1, 3) kernel catches a swapped H/W."""
  rng = np.random.default_rng(3)
  w_OIHW = rng.normal(size=(4, 3, 1, 3))
  gamma, beta = rng.uniform(0.5, 1.5, 4), rng.normal(size=4)
  mean, var = rng.normal(size=4), rng.uniform(0.5, 1.5, 4)
  layer = nnx.eval_shape(lambda: inception.BasicConv2d(3, 4, (1, 3), stride=2, padding=(0, 1),
                                                       rngs=nnx.Rngs(0)))
  graphdef, state = nnx.split(layer)
  values = {"kernel": inception._from_torch_layout(w_OIHW), "scale": gamma, "bias": beta,
            "mean": mean, "var": var}
  state = nnx.from_flat_state([(p, v.replace(value=jnp.asarray(values[p[-1]], jnp.float32)))
                               for p, v in nnx.to_flat_state(state)])
  x = rng.normal(size=(6, 7, 3))
  got = nnx.merge(graphdef, state)(jnp.asarray(x[None], jnp.float32))[0]
  padded = np.pad(x, ((0, 0), (1, 1), (0, 0)))
  want = np.zeros((3, 4, 4))
  for i in range(3):
    for j in range(4):
      patch = padded[2 * i, 2 * j:2 * j + 3]  # (kw, C_in)
      want[i, j] = np.einsum("wc,ocw->o", patch, w_OIHW[:, :, 0, :])
  want = np.maximum((want - mean) / np.sqrt(var + 1e-3) * gamma + beta, 0)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# ---- weight files -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def files(random_state, tmp_path_factory):
  folder = tmp_path_factory.mktemp("inception_weights")
  state_dict = inception.to_state_dict(random_state)
  with_counters = dict(state_dict)
  for name in list(state_dict):  # torch's BN buffers carry int64 counters; they are ignored
    if name.endswith("running_var"):
      with_counters[name.replace("running_var", "num_batches_tracked")] = np.array(7, np.int64)
  paths = {"npz": str(folder / "w.npz"), "zip": str(folder / "w.pth"),
           "legacy": str(folder / "w_legacy.pth")}
  np.savez(paths["npz"], **state_dict)
  save_torch_state_dict(with_counters, paths["zip"])
  save_torch_state_dict(with_counters, paths["legacy"], legacy=True)
  return state_dict, paths


def test_weight_files_round_trip_to_identical_outputs(random_state, abstract, files):
  state_dict, paths = files
  loaded = {kind: inception.load_weights(path) for kind, path in paths.items()}
  for state in loaded.values():
    jax.tree.map(np.testing.assert_array_equal, state, random_state)
  model = inception.load_inception(paths["zip"])
  jax.tree.map(np.testing.assert_array_equal, nnx.state(model), random_state)

  graphdef = abstract[0]
  forward = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))  # compiled once, at 299 px
  images = np.random.default_rng(4).random((2, 40, 40, 3)).astype(np.float32)
  pool, logits = forward(random_state, images)
  assert pool.shape == (2, 2048) and logits.shape == (2, 1008)
  assert np.isfinite(logits).all() and (pool >= 0).all() and pool.std() > 0
  np.testing.assert_allclose(logits, pool @ state_dict["fc.weight"].T + state_dict["fc.bias"],
                             rtol=1e-4, atol=1e-4)
  for state in loaded.values():
    other_pool, other_logits = forward(state, images)
    np.testing.assert_array_equal(other_pool, pool)
    np.testing.assert_array_equal(other_logits, logits)


def test_wrong_shape_names_the_tensor(files, tmp_path):
  state_dict, _ = files
  bad = dict(state_dict, **{"fc.weight": np.zeros((10, 2048), np.float32)})
  save_torch_state_dict(bad, tmp_path / "bad.pth")
  message = r"fc\.weight has shape \(10, 2048\), expected \(1008, 2048\)"
  with pytest.raises(UserError, match=message):
    inception.load_weights(tmp_path / "bad.pth")


def test_missing_and_unexpected_keys_are_named(files, tmp_path):
  state_dict, _ = files
  missing = {k: v for k, v in state_dict.items() if k != "Mixed_6b.branch7x7_2.conv.weight"}
  np.savez(tmp_path / "missing.npz", **missing)
  with pytest.raises(UserError, match=r"missing key Mixed_6b\.branch7x7_2\.conv\.weight"):
    inception.load_weights(tmp_path / "missing.npz")
  np.savez(tmp_path / "extra.npz", **state_dict, **{"AuxLogits.fc.weight": np.zeros(3)})
  with pytest.raises(UserError, match=r"unexpected key AuxLogits\.fc\.weight"):
    inception.load_weights(tmp_path / "extra.npz")


def test_bad_files_raise_user_errors(files, tmp_path):
  with pytest.raises(UserError, match="not found"):
    inception.load_weights(tmp_path / "absent.pth")
  (tmp_path / "junk.pth").write_bytes(b"<html>404</html>")
  with pytest.raises(UserError, match="not a PyTorch checkpoint"):
    inception.load_weights(tmp_path / "junk.pth")
  with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
    archive.writestr("readme.txt", "hello")
  with pytest.raises(UserError, match="neither data.pkl"):
    inception.load_weights(tmp_path / "other.zip")
  with zipfile.ZipFile(tmp_path / "evil.pth", "w") as archive:  # GLOBAL posix.system
    archive.writestr("archive/data.pkl", pickle.dumps(os.system, protocol=2))
  with pytest.raises(UserError, match="refusing to load"):
    inception.load_weights(tmp_path / "evil.pth")
  _, paths = files
  with zipfile.ZipFile(paths["zip"]) as src, zipfile.ZipFile(tmp_path / "cut.pth", "w") as dst:
    for name in src.namelist():  # fc.weight's storage cut short
      data = src.read(name)
      dst.writestr(name, data[:100] if len(data) == 1008 * 2048 * 4 else data)
  with pytest.raises(UserError, match="runs past its storage"):
    inception.load_weights(tmp_path / "cut.pth")
  legacy = open(paths["legacy"], "rb").read()
  (tmp_path / "cut_legacy.pth").write_bytes(legacy[:-1000])
  with pytest.raises(UserError, match="truncated"):
    inception.load_weights(tmp_path / "cut_legacy.pth")
