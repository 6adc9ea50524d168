"""grain pipeline over the TFDS source and sharding onto a mesh."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from fxs_jax.data import pipeline


def _take(ds, n):
  it = iter(ds)
  return [next(it) for _ in range(n)]


def test_train_batches_shapes_range_and_determinism(smoke_stills):
  source = smoke_stills.as_data_source(split="train")
  a = _take(pipeline.train_dataset(source, 4, seed=1, num_threads=2), 15)  # > 1 epoch (48 ex.)
  b = _take(pipeline.train_dataset(source, 4, seed=1, num_threads=2), 15)
  c = _take(pipeline.train_dataset(source, 4, seed=2, num_threads=2), 15)
  batch = a[0]
  assert batch["image"].shape == (4, 32, 32, 3) and batch["image"].dtype == np.float32
  assert batch["landmarks"].shape == (4, 68, 2) and batch["aus"].shape == (4, 17)
  assert -1.0 <= batch["image"].min() and batch["image"].max() <= 1.0
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x["image"], y["image"])
  assert any(not np.array_equal(x["image"], y["image"]) for x, y in zip(a, c))
  # Epochs are reshuffled: the first 12 batches (one epoch) cover every example once.
  ids_emotions = [(int(i), int(e)) for bt in a[:12] for i, e in zip(bt["identity"], bt["emotion"])]
  assert len(set(ids_emotions)) == len(source)


def test_flip_mirrors_about_half_of_the_examples(smoke_stills):
  source = smoke_stills.as_data_source(split="train")
  originals = {(int(source[i]["identity"]), int(source[i]["emotion"])): source[i]
               for i in range(len(source))}
  flipped = total = 0
  for bt in _take(pipeline.train_dataset(source, 8, seed=0, num_threads=1), 12):
    for k in range(8):
      orig = originals[(int(bt["identity"][k]), int(bt["emotion"][k]))]
      img = np.round((bt["image"][k] + 1) * 127.5).astype(np.uint8)
      if np.array_equal(img, orig["image"][:, ::-1]):
        flipped += 1
        np.testing.assert_allclose(bt["landmarks"][k][[36, 45]][:, 0],
                                   31 - orig["landmarks"][[45, 36]][:, 0], atol=1e-5)
      else:
        np.testing.assert_array_equal(img, orig["image"])
      total += 1
  assert 0.3 < flipped / total < 0.7


def test_eval_pass_is_ordered_and_unflipped(smoke_stills):
  source = smoke_stills.as_data_source(split="test")
  batches = list(pipeline.eval_dataset(source, 4, num_threads=1))
  assert len(batches) == len(source) // 4
  first = np.round((batches[0]["image"][0] + 1) * 127.5).astype(np.uint8)
  np.testing.assert_array_equal(first, source[0]["image"])


def test_batches_shard_over_8_devices(smoke_stills, tfds_dir, devices_env):
  # A fresh process: the device count is fixed when JAX starts.
  code = textwrap.dedent(f"""
      import jax, numpy as np
      from fxs_jax import sharding
      from fxs_jax.data import builders, pipeline
      assert jax.device_count() == 8
      src = builders.prepare("synth_faces/stills_smoke", {str(tfds_dir)!r}).as_data_source("train")
      mesh = sharding.make_mesh()
      bs = sharding.per_process_batch_size(16)
      host = next(iter(pipeline.train_dataset(src, bs, seed=0, num_threads=1)))
      dev = sharding.to_device(host, mesh)
      img = dev["image"]
      assert img.shape == (16, 32, 32, 3), img.shape
      assert len(img.addressable_shards) == 8
      assert all(s.data.shape == (2, 32, 32, 3) for s in img.addressable_shards)
      np.testing.assert_array_equal(np.asarray(img), host["image"])
      try:
        sharding.per_process_batch_size(25)
      except Exception as e:
        assert "multiple of 8" in str(e), e
      else:
        raise AssertionError("batch 25 over 8 devices must fail")
      print("OK")
  """)
  proc = subprocess.run([sys.executable, "-c", code], env=devices_env(8), capture_output=True, text=True,
                        cwd=Path(__file__).resolve().parents[2], timeout=300)
  assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-3000:]


def test_process_rows_of_global_batches_make_up_the_one_process_batches(smoke_stills):
  # Two processes each loading half of every global batch of 4 see what one process sees,
  # including the per-position flips and the reshuffle of every epoch; their iterators resume.
  source = smoke_stills.as_data_source(split="train")
  whole = _take(pipeline.train_dataset(source, 4, seed=3, num_threads=1), 15)
  halves = [_take(pipeline.train_dataset(source, 4, seed=3, num_threads=1, rows=rows), 15)
            for rows in ([0, 1], [2, 3])]
  for w, a, b in zip(whole, *halves):
    for key in w:
      np.testing.assert_array_equal(np.concatenate([a[key], b[key]]), w[key])
  it = iter(pipeline.train_dataset(source, 4, seed=3, num_threads=1, rows=[2, 3]))
  _take(it, 5)
  resumed = iter(pipeline.train_dataset(source, 4, seed=3, num_threads=1, rows=[2, 3]))
  resumed.set_state(it.get_state())
  np.testing.assert_array_equal(next(resumed)["image"], halves[1][5]["image"])
  test = smoke_stills.as_data_source(split="test")
  ordered = list(pipeline.eval_dataset(test, 4, num_threads=1, limit=10))
  odd = list(pipeline.eval_dataset(test, 4, num_threads=1, limit=10, rows=[1, 3]))
  assert len(ordered) == len(odd) == 2
  for w, o in zip(ordered, odd):
    np.testing.assert_array_equal(o["image"], w["image"][[1, 3]])


def test_varied_indices_pick_new_identities_and_expressions():
  """On an identity-major layout (8 expressions each) the picks walk the diagonal, then free the
  expressions once all are used; data without the keys give the first examples."""
  source = [{"identity": i // 8, "emotion": i % 8} for i in range(80)]
  picked = [source[i] for i in pipeline.varied_indices(source, 10)]
  assert [p["identity"] for p in picked] == list(range(10))
  assert [p["emotion"] for p in picked] == list(range(8)) + [0, 1]
  one_person = source[:8]
  assert sorted(pipeline.varied_indices(one_person, 3)) == [0, 1, 2]  # no new identity: reuse
  assert list(pipeline.varied_indices([{"x": 0}] * 5, 3)) == [0, 1, 2]
  assert list(pipeline.varied_indices(source[:2], 5)) == [0, 1, 0, 1, 0]  # too few: repeat
