"""SynthFaces' TFDS builder: written arrays read back identically, without TensorFlow."""

import sys

import numpy as np
import pytest

from fxs_jax import facs
from fxs_jax.data import builders
from fxs_jax.data import manual_datasets
from fxs_jax.data import synth_faces_examples as sfe


def _expected(builder, split):
  cfg = builder.builder_config
  n_train, n_test = cfg.num_train_identities, cfg.num_test_identities
  ids = {"train": range(n_train), "test": range(n_train, n_train + n_test),
         "validation": range(n_train + n_test,
                             n_train + n_test + cfg.num_validation_identities)}[split]
  out = []
  for i in ids:
    out += sfe.identity_examples(
        sfe.Job(cfg.kind, cfg.image_size, i, cfg.variants, cfg.num_frames), encode=False)
  return out


def test_tensorflow_is_not_needed(smoke_stills):
  source = smoke_stills.as_data_source(split="train")
  source[0]  # pylint: disable=pointless-statement
  assert "tensorflow" not in sys.modules or not hasattr(sys.modules["tensorflow"], "constant")


@pytest.mark.parametrize("split", ["train", "test", "validation"])
def test_stills_round_trip(smoke_stills, split):
  source = smoke_stills.as_data_source(split=split)
  expected = _expected(smoke_stills, split)
  assert len(source) == len(expected)
  for i, (_, want) in enumerate(expected):
    got = source[i]  # written in key order (disable_shuffling)
    np.testing.assert_array_equal(got["image"], want["image"])
    np.testing.assert_array_equal(got["landmarks"], want["landmarks"])
    np.testing.assert_array_equal(got["aus"], want["aus"])
    assert int(got["emotion"]) == want["emotion"] and int(got["identity"]) == want["identity"]
    assert got["image"].dtype == np.uint8 and got["image"].shape == (32, 32, 3)


def test_splits_have_disjoint_identities_and_all_emotions(smoke_stills):
  ids = {}
  for split in ("train", "test", "validation"):
    source = smoke_stills.as_data_source(split=split)
    rows = [source[i] for i in range(len(source))]
    ids[split] = {int(r["identity"]) for r in rows}
    per_identity = {}
    for r in rows:
      per_identity.setdefault(int(r["identity"]), set()).add(int(r["emotion"]))
    assert all(v == set(range(8)) for v in per_identity.values())
  assert ids["train"] and ids["test"] and ids["validation"]
  assert not ids["train"] & ids["test"] and not ids["train"] & ids["validation"]
  assert not ids["test"] & ids["validation"]


@pytest.mark.parametrize("name,counts", [
    ("stills_64", (300, 60, 60)), ("transfer_64", (300, 60, 60)),
    ("sequences_64", (100, 20, 20)), ("stills_smoke", (6, 2, 2))])
def test_split_identity_counts_and_no_identity_crosses(name, counts):
  """The published identity counts of each split, and no id (source or transfer partner) in two
  splits: checked on the job lists the builder renders, without rendering them."""
  cls = builders.builder_class("synth_faces")
  cfg = next(c for c in cls.BUILDER_CONFIGS if c.name == name)
  ranges = sys.modules[cls.__module__].split_identities(cfg)
  assert tuple(len(ranges[s]) for s in ("train", "test", "validation")) == counts
  seen = {}
  for split, ids in ranges.items():
    for i in ids:
      assert seen.setdefault(i, split) == split
    if cfg.kind == "transfer":  # partners are drawn inside the source's split
      rng = np.random.default_rng(0)
      for i in list(ids)[:20]:
        partner = sfe.transfer_partner(i, (ids.start, ids.stop), rng)
        assert partner in ids and partner != i


def test_sequences_round_trip(tfds_dir):
  builder = builders.prepare("synth_faces/sequences_smoke", str(tfds_dir))
  source = builder.as_data_source(split="test")
  expected = _expected(builder, "test")
  assert len(source) == len(expected) == 7
  for i, (_, want) in enumerate(expected):
    got = source[i]
    frames = np.asarray(got["frames"])  # TFDS decodes a Sequence(Image) to a list of arrays
    assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames, np.stack(want["frames"]))
    np.testing.assert_array_equal(got["landmarks"], want["landmarks"])
    np.testing.assert_array_equal(got["aus"], want["aus"])
    # Clips start neutral and end at the apex.
    np.testing.assert_array_equal(got["aus"][0], np.zeros(facs.NUM_AUS))
    assert got["aus"][-1].max() > 0


def test_unknown_dataset_and_config_are_named(tfds_dir):
  with pytest.raises(builders.DatasetError, match="No dataset builder named 'rafdd'"):
    builders.prepare("rafdd/default", str(tfds_dir))
  with pytest.raises(builders.DatasetError, match="no config 'stills_65'.*stills_64"):
    builders.prepare("synth_faces/stills_65", str(tfds_dir))


def test_builder_is_not_imported_as_datasets(smoke_stills):
  # The PyPI package `datasets` must stay importable under its own name.
  assert "datasets" not in sys.modules or "fxs_jax" not in str(sys.modules["datasets"])
  assert type(smoke_stills).__module__.startswith("fxs_jax_datasets.")


class _Racing:
  """A builder that loses the build race: while it builds, the other process's copy lands
  (``state["built"]``), and TFDS's rename raises FileExistsError."""

  name = "mug"
  MANUAL_DOWNLOAD_INSTRUCTIONS = ""

  def __init__(self, data_dir, state):
    self.data_dir, self.state = str(data_dir), state

  def download_and_prepare(self, **kwargs):
    del kwargs
    self.state["built"] = True  # the other process's rename won
    raise FileExistsError("Destination already exists.")


def _race(monkeypatch, where) -> dict:
  """``builders`` builds with :class:`_Racing` in ``where``; returns the shared state."""
  state = {"built": False}
  monkeypatch.setattr(builders, "get_builder",
                      lambda name, data_dir, framing="": _Racing(where, state))
  monkeypatch.setattr(builders, "is_prepared", lambda builder: state["built"])
  return state


def test_a_build_finished_meanwhile_by_another_process_is_used(monkeypatch, tmp_path):
  """Two runs started together both build SynthFaces; the second rename fails (TFDS raises
  FileExistsError), and the data the first one wrote is used. A failure with no data left
  behind is still raised."""
  done = _race(monkeypatch, tmp_path)
  assert isinstance(builders.prepare("synth_faces/stills_smoke", str(tmp_path)), _Racing)
  done["built"] = False
  monkeypatch.setattr(_Racing, "download_and_prepare",
                      lambda self, **kw: (_ for _ in ()).throw(FileExistsError("x")))
  with pytest.raises(FileExistsError):
    builders.prepare("synth_faces/stills_smoke", str(tmp_path))


def test_a_manual_build_finished_meanwhile_is_used_only_if_from_the_same_files(monkeypatch,
                                                                              tmp_path):
  """The same race for a dataset built from the user's download: the other process's copy is
  used when its stored fingerprint is that of the download; otherwise the one-line error."""
  manual = tmp_path / "download"
  manual.mkdir()
  (manual / "a.png").write_bytes(b"x")
  state = _race(monkeypatch, tmp_path / "built")
  monkeypatch.setattr(builders, "_stored_fingerprint",
                      lambda builder: {"fingerprint": state["fingerprint"]})
  state["fingerprint"] = manual_datasets.fingerprint(manual)  # built from these files
  assert isinstance(builders.prepare("mug/sequences_smoke", manual_dir=str(manual)), _Racing)
  state["built"], state["fingerprint"] = False, "other files"
  with pytest.raises(builders.DatasetError, match="Could not prepare mug/sequences_smoke"):
    builders.prepare("mug/sequences_smoke", manual_dir=str(manual))
