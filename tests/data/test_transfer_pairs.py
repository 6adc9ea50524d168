"""Expression-transfer triples: SynthFaces' rendered ones against independent re-renders, and the
RaFD / CK+ pairing rules against triples written out by hand."""

import numpy as np
import pytest

from fxs_jax import facs
from fxs_jax.data import builders
from fxs_jax.data import synth_faces as sf
from fxs_jax.data import synth_faces_examples as sfe
from fxs_jax.data import transfer_pairs as tp
from fxs_jax.errors import DatasetError

SIZE = 32
SPLIT = (6, 10)  # a test-like split that does not start at 0
# The landmark groups each AU moves (FACS regions); every other group must stay put.
AU_GROUPS = {
    "AU01": {"brows"}, "AU02": {"brows"}, "AU04": {"brows"},
    "AU05": {"eyes"}, "AU06": {"eyes"}, "AU07": {"eyes"}, "AU45": {"eyes"},
    "AU09": {"brows", "nose", "lips"}, "AU10": {"nose", "lips"},
    "AU12": {"lips"}, "AU14": {"lips"}, "AU15": {"lips"}, "AU20": {"lips"}, "AU23": {"lips"},
    "AU25": {"lips"}, "AU17": {"jaw", "lips"}, "AU26": {"jaw", "lips"},
}


def _transfer(identity_id, split=SPLIT):
  return sfe.identity_examples(
      sfe.Job("transfer", SIZE, identity_id, split_ids=split), encode=False)


@pytest.fixture(scope="module")
def examples():
  """Every transfer example of the split, rendered in memory."""
  return {i: _transfer(i) for i in range(*SPLIT)}


# ---------------------------------------------------------------- SynthFaces transfer examples

def test_fields_keys_and_dtypes(examples):
  for a, rows in examples.items():
    assert [k for k, _ in rows] == [f"{a:06d}_{label}" for label in range(1, 8)]
    assert [ex["emotion"] for _, ex in rows] == list(range(1, 8))
    for _, ex in rows:
      assert set(ex) == {"source_image", "source_landmarks", "target_image", "target_landmarks",
                         "image", "landmarks", "aus", "emotion", "identity", "source_identity"}
      for name in ("source_image", "target_image", "image"):
        assert ex[name].dtype == np.uint8 and ex[name].shape == (SIZE, SIZE, 3)
      for name in ("source_landmarks", "target_landmarks", "landmarks"):
        assert ex[name].dtype == np.float32 and ex[name].shape == (68, 2)
      assert ex["aus"].dtype == np.float32 and ex["aus"].shape == (facs.NUM_AUS,)
      assert ex["source_identity"] == a


def test_partner_is_another_identity_of_the_split(examples):
  partners = set()
  for a, rows in examples.items():
    for _, ex in rows:
      assert ex["identity"] != a and SPLIT[0] <= ex["identity"] < SPLIT[1]
      partners.add(ex["identity"])
  assert partners == set(range(*SPLIT))  # 28 draws over 4 ids: every one is someone's partner


def test_truth_is_the_partner_rendered_with_the_source_aus(examples):
  for rows in examples.values():
    for _, ex in rows:
      b = sf.sample_identity(sfe.identity_rng(ex["identity"]))  # independent of the example code
      img, lms = sf.render(b, ex["aus"], SIZE)
      np.testing.assert_array_equal(ex["image"], img)
      np.testing.assert_array_equal(ex["landmarks"], lms)
      np.testing.assert_array_equal(ex["landmarks"], sf.landmarks(b, ex["aus"], SIZE))
      assert not np.array_equal(ex["image"], ex["target_image"])


def test_source_aus_are_an_instance_of_the_emotion_on_the_source(examples):
  for a, rows in examples.items():
    face = sf.sample_identity(sfe.identity_rng(a))
    for _, ex in rows:
      proto = facs.emotion_aus(ex["emotion"])
      np.testing.assert_array_equal(ex["aus"] > 0, proto > 0)
      img, lms = sf.render(face, ex["aus"], SIZE)
      np.testing.assert_array_equal(ex["source_image"], img)
      np.testing.assert_array_equal(ex["source_landmarks"], lms)


def test_target_is_the_partner_neutral_still(examples):
  for rows in examples.values():
    for _, ex in rows:
      b = ex["identity"]
      img, lms = sf.render(sf.sample_identity(sfe.identity_rng(b)), np.zeros(facs.NUM_AUS), SIZE)
      np.testing.assert_array_equal(ex["target_image"], img)
      np.testing.assert_array_equal(ex["target_landmarks"], lms)
  # ... the very neutral example the stills configs hold for B.
  _, ex = examples[SPLIT[0]][0]
  stills = sfe.identity_examples(sfe.Job("stills", SIZE, ex["identity"]), encode=False)
  neutral = dict(stills)[f"{ex['identity']:06d}_00_0"]
  np.testing.assert_array_equal(ex["target_image"], neutral["image"])
  np.testing.assert_array_equal(ex["target_landmarks"], neutral["landmarks"])


def test_truth_landmarks_move_only_where_the_aus_do(examples):
  for rows in examples.values():
    for _, ex in rows:
      active = [facs.AU_NAMES[i] for i in np.flatnonzero(ex["aus"])]
      allowed = set().union(*(AU_GROUPS[au] for au in active))
      moved = np.any(ex["landmarks"] != ex["target_landmarks"], axis=-1)
      assert moved.any()
      for group, idx in sf.LANDMARK_GROUPS.items():
        if group not in allowed:
          assert not moved[list(idx)].any(), (active, group)


def test_deterministic_and_encoded_like_stills(examples):
  a = SPLIT[0] + 1
  again = _transfer(a)
  assert [k for k, _ in again] == [k for k, _ in examples[a]]
  for (_, x), (_, y) in zip(again, examples[a]):
    for name in x:
      np.testing.assert_array_equal(x[name], y[name])
  _, enc = sfe.identity_examples(sfe.Job("transfer", SIZE, a, split_ids=SPLIT))[0]
  _, raw = examples[a][0]
  for name in ("source_image", "target_image", "image"):
    assert enc[name] == sfe.png_bytes(raw[name])


def test_existing_kinds_ignore_split_ids():
  for kind in ("stills", "sequences"):
    plain = sfe.identity_examples(sfe.Job(kind, SIZE, 7, num_frames=3), encode=False)
    with_split = sfe.identity_examples(
        sfe.Job(kind, SIZE, 7, num_frames=3, split_ids=SPLIT), encode=False)
    assert [k for k, _ in plain] == [k for k, _ in with_split]
    for (_, x), (_, y) in zip(plain, with_split):
      for name in x:
        np.testing.assert_array_equal(np.asarray(x[name]), np.asarray(y[name]))


def test_transfer_needs_a_split_with_a_partner():
  with pytest.raises(ValueError, match="split_ids"):
    _transfer(3, split=None)
  with pytest.raises(ValueError, match="outside"):
    _transfer(3, split=(4, 8))
  with pytest.raises(ValueError, match=">= 2 identities"):
    _transfer(3, split=(3, 4))
  assert {ex["identity"] for _, ex in _transfer(3, split=(3, 5))} == {4}


def test_transfer_smoke_builds_through_tfds(tfds_dir):
  builder = builders.prepare("synth_faces/transfer_smoke", str(tfds_dir))
  cfg = builder.builder_config
  assert (cfg.image_size, cfg.num_train_identities, cfg.num_test_identities) == (32, 6, 2)
  sources = builders.data_sources("synth_faces/transfer_smoke", ("train", "test"), str(tfds_dir))
  assert len(sources["train"]) == 6 * 7 and len(sources["test"]) == 2 * 7
  test = sources["test"]
  expected = _transfer(6, split=(6, 8)) + _transfer(7, split=(6, 8))
  for i, (_, want) in enumerate(expected):
    got = test[i]  # written in key order (disable_shuffling)
    for name in ("source_image", "target_image", "image"):
      assert got[name].dtype == np.uint8 and got[name].shape == (32, 32, 3)
      np.testing.assert_array_equal(got[name], want[name])
    for name in ("source_landmarks", "target_landmarks", "landmarks"):
      assert got[name].dtype == np.float32 and got[name].shape == (68, 2)
      np.testing.assert_array_equal(got[name], want[name])
    assert got["aus"].dtype == np.float32 and got["aus"].shape == (17,)
    np.testing.assert_array_equal(got["aus"], want["aus"])
    for name in ("emotion", "identity", "source_identity"):
      assert int(got[name]) == want[name]
    assert {int(got["identity"]), int(got["source_identity"])} == {6, 7}
  train_ids = {int(sources["train"][i]["identity"]) for i in range(len(sources["train"]))}
  assert train_ids <= set(range(6))


# ---------------------------------------------------------------- RaFD

def _rafd(index, subject, emotion, gaze="frontal", angle=90):
  return {"index": index, "subject": subject, "emotion": emotion, "gaze": gaze, "angle": angle}


def test_rafd_two_subjects_by_hand():
  records = [
      _rafd(0, 1, "neutral"), _rafd(1, 1, "happy"), _rafd(2, 1, "sad"),
      _rafd(3, 2, "neutral"), _rafd(4, 2, "happy"),  # 2 has no sad photo
      _rafd(5, 1, "happy", gaze="left"), _rafd(6, 2, "neutral", gaze="left"),
      _rafd(7, 2, "happy", gaze="left"),
      _rafd(8, 2, "happy", angle=45),  # no neutral of 1 at 45 degrees
  ]
  want = [(1, 3, 4), (4, 0, 1), (5, 6, 7)]
  for seed in (0, 1, 7):
    assert tp.rafd_pairs(records, seed=seed) == want
  assert tp.rafd_pairs(records, seed=3, partners=5) == want
  assert all(isinstance(t, tp.Triple) for t in tp.rafd_pairs(records))
  assert tp.rafd_pairs(records)[0].truth == 4
  # Shuffled records, emotion labels instead of names: the same triples.
  relabelled = [{**r, "emotion": facs.EMOTIONS.index(r["emotion"])} for r in records[::-1]]
  assert tp.rafd_pairs(relabelled) == want


def test_rafd_skips_sources_whose_truth_is_missing():
  records = [_rafd(0, "a", "neutral"), _rafd(1, "a", "angry"),
             _rafd(2, "b", "neutral"), _rafd(3, "b", "fearful")]
  assert tp.rafd_pairs(records) == []


def test_rafd_draws_among_partners_deterministically():
  emotions = ("neutral", "happy", "surprised")
  records = [_rafd(3 * s + k, s, e) for s in range(5) for k, e in enumerate(emotions)]
  by_seed = {seed: tp.rafd_pairs(records, seed=seed) for seed in range(6)}
  for seed, triples in by_seed.items():
    assert triples == tp.rafd_pairs(records, seed=seed)
    assert [t.source for t in triples] == [i for i in range(15) if i % 3]
    for src, tgt, truth in triples:
      s, t = src // 3, tgt // 3
      assert t != s and tgt == 3 * t and truth == 3 * t + src % 3
  assert len({tuple(v) for v in by_seed.values()}) > 1
  # Adding an unrelated subject's photo changes no draw of existing sources with the same pool.
  extra = records + [_rafd(99, 9, "sad")]
  assert tp.rafd_pairs(extra, seed=2) == by_seed[2]
  many = tp.rafd_pairs(records, seed=0, partners=3)
  assert len(many) == 10 * 3
  for src in {t.source for t in many}:
    assert len({t.target for t in many if t.source == src}) == 3


def test_rafd_reports_bad_metadata():
  with pytest.raises(DatasetError, match="lacks \\['gaze'\\]"):
    tp.rafd_pairs([{"index": 0, "subject": 1, "emotion": "happy", "angle": 90}])
  with pytest.raises(DatasetError, match="appears twice"):
    tp.rafd_pairs([_rafd(0, 1, "happy"), _rafd(0, 2, "happy")])
  with pytest.raises(DatasetError, match="Unknown emotion 'joy'"):
    tp.rafd_pairs([_rafd(0, 1, "joy")])
  with pytest.raises(ValueError, match="seed"):
    tp.rafd_pairs([], seed=-1)


# ---------------------------------------------------------------- CK+

def _clip(subject, sequence, first_index, num_frames, emotion, label_only_peak=True):
  """Records of one sequence: frames 1..num_frames at consecutive indices."""
  return [{"index": first_index + k, "subject": subject, "sequence": sequence, "frame": k + 1,
           "emotion": emotion if (k == num_frames - 1 or not label_only_peak) else None}
          for k in range(num_frames)]


def test_ckplus_two_subjects_by_hand():
  records = (
      _clip("S005", "001", 0, 3, "disgusted")         # 0 1 2
      + _clip("S005", "002", 3, 2, "happy")           # 3 4
      + _clip("S010", "001", 5, 4, "happy",
              label_only_peak=False)                  # 5 6 7 8
      + _clip("S010", "002", 9, 3, None)              # unlabelled: never used
      + _clip("S010", "003", 12, 1, "disgusted")      # one frame: no neutral -> peak
      + _clip("S011", "004", 13, 2, "sad"))           # no other sad subject
  want = [(4, 5, 8), (8, 3, 4)]
  for seed in (0, 1, 5):
    assert tp.ckplus_pairs(records, seed=seed) == want
  assert tp.ckplus_pairs(records[::-1], partners=4) == want


def test_ckplus_uses_frame_order_not_record_order():
  records = [
      {"index": 0, "subject": 1, "sequence": 1, "frame": 9, "emotion": "angry"},
      {"index": 1, "subject": 1, "sequence": 1, "frame": 2, "emotion": None},
      {"index": 2, "subject": 2, "sequence": 7, "frame": 5, "emotion": None},
      {"index": 3, "subject": 2, "sequence": 7, "frame": 30, "emotion": 4},  # 4 = angry
      {"index": 4, "subject": 2, "sequence": 7, "frame": 12, "emotion": None},
  ]
  assert tp.ckplus_pairs(records) == [(0, 2, 3), (3, 1, 0)]


def test_ckplus_draws_subjects_and_sequences_deterministically():
  records, first = [], 0
  for subject in range(4):
    for sequence in range(2):
      records += _clip(subject, sequence, first, 3, "surprised")
      first += 3
  by_seed = {seed: tp.ckplus_pairs(records, seed=seed) for seed in range(8)}
  peaks = [i for i in range(24) if i % 3 == 2]
  for seed, triples in by_seed.items():
    assert triples == tp.ckplus_pairs(records, seed=seed)
    assert [t.source for t in triples] == peaks
    for src, tgt, truth in triples:
      assert src // 6 != tgt // 6 and tgt % 3 == 0 and truth == tgt + 2
  assert len({tuple(v) for v in by_seed.values()}) > 1
  targets = {t.target for v in by_seed.values() for t in v}
  assert {t % 6 for t in targets} == {0, 3}  # both sequences of a partner get drawn


def test_ckplus_reports_bad_metadata():
  with pytest.raises(DatasetError, match="several emotions"):
    tp.ckplus_pairs(_clip(1, 1, 0, 2, "sad", label_only_peak=False)[:1]
                    + _clip(1, 1, 1, 2, "happy")[1:])
  with pytest.raises(DatasetError, match="repeats a frame"):
    tp.ckplus_pairs(_clip(1, 1, 0, 2, "sad") + [
        {"index": 5, "subject": 1, "sequence": 1, "frame": 2, "emotion": None}])
  with pytest.raises(DatasetError, match="lacks \\['sequence', 'frame'\\]"):
    tp.ckplus_pairs([{"index": 0, "subject": 1, "emotion": "sad"}])
