"""ACD / ACD-I: the maths against hand-computed values; the dlib embedding on a real photo and on
SynthFaces.

Measured on SynthFaces with landmark-aligned chips (10 identities x 8 emotions, 2026-11-24):
same identity, other expression 0.34 +- 0.07 (128 px) / 0.37 +- 0.08 (64 px); different
identities 0.44 +- 0.08 / 0.51 +- 0.09; different identities with the SAME expression
0.36 +- 0.09 / 0.43 +- 0.11. dlib separates the procedural identities only weakly (the nearest
other image is the same identity 50-60% of the time; most different-identity pairs fall under
dlib's 0.6 same-person threshold), so the assertions below are on averages, with a margin.
"""

import math
import sys

import numpy as np
import pytest

from fxs_jax import facs
from fxs_jax.errors import UserError
from fxs_jax.eval import identity

NAN = math.nan


def test_acd_is_mean_pairwise_distance_per_video_then_over_videos():
  videos_VxTxD = np.array([
      [[0, 0], [3, 4], [0, 4]],    # pair distances 5, 3, 4 -> 4
      [[0, 0], [1, 0], [NAN, 0]],  # NaN frame skipped: one pair, distance 1
      [[1, 1], [NAN, NAN], [NAN, 2]],  # one valid frame: video skipped
  ])
  assert identity.acd(videos_VxTxD) == pytest.approx(2.5)
  assert identity.acd_counts(videos_VxTxD) == (pytest.approx(2.5), 2, 5)
  assert math.isnan(identity.acd(np.full((1, 2, 3), NAN)))


def test_acd_identity_is_mean_distance_to_reference_skipping_nan():
  emb = np.array([[3.0, 4.0], [1.0, 1.0], [NAN, 0.0]])
  ref = np.array([[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]])
  assert identity.acd_identity(emb, ref) == pytest.approx(3.0)  # (5 + 1) / 2
  assert identity.acd_identity_counts(emb, ref)[1] == 2
  # Video frames (V, T, D) against one input face per video (V, 1, D).
  frames = np.array([[[3.0, 4.0], [0.0, 0.0]], [[0.0, 2.0], [NAN, NAN]]])
  inputs = np.array([[[0.0, 0.0]], [[0.0, 1.0]]])
  assert identity.acd_identity_counts(frames, inputs) == (pytest.approx(2.0), 3)  # (5 + 0 + 1)/3


def test_missing_dlib_is_a_user_error(monkeypatch):
  monkeypatch.setitem(sys.modules, "dlib", None)  # makes `import dlib` raise ImportError
  with pytest.raises(UserError, match=r"pip install -e '\.\[faces\]'"):
    identity.FaceEmbedder().embed(np.zeros((1, 64, 64, 3), np.uint8))


# ---- dlib-dependent tests ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedder():
  pytest.importorskip("dlib", reason="dlib not installed (pip install -e '.[faces]')")
  return identity.FaceEmbedder()


@pytest.fixture(scope="module")
def astronaut():
  from skimage import data  # pylint: disable=import-outside-toplevel
  return data.astronaut()


def test_astronaut_one_face_and_mirror_is_same_person(embedder, astronaut):
  from fxs_jax.data import synth_faces  # pylint: disable=import-outside-toplevel
  faces = embedder.detect(astronaut)
  assert faces.shape == (1, 68, 2)
  # The face is in the upper middle of the 512 px photo (box ~ x 175-265, y 80-170).
  assert 170 < faces[0, :, 0].mean() < 270 and 80 < faces[0, :, 1].mean() < 180
  mirror = np.ascontiguousarray(astronaut[:, ::-1])
  emb = embedder.embed(np.stack([astronaut, mirror]))
  assert emb.shape == (2, 128) and emb.dtype == np.float32 and embedder.last_num_missing == 0
  mirror_distance = np.linalg.norm(emb[0] - emb[1])
  assert mirror_distance < 0.4  # measured 0.20; dlib's same-person threshold is 0.6
  synth_img, synth_lms = synth_faces.render(synth_faces.sample_identity(0), np.zeros(17), 128)
  synth_emb = embedder.embed(synth_img[None], synth_lms[None])[0]
  assert mirror_distance < np.linalg.norm(emb[0] - synth_emb)  # measured 0.57


def test_synthfaces_same_identity_closer_on_average(embedder):
  from fxs_jax.data import synth_faces  # pylint: disable=import-outside-toplevel
  images, landmarks, ids = [], [], []
  for seed in range(10):
    person = synth_faces.sample_identity(seed)
    for emotion in ("neutral", "happy", "surprised"):
      img, lms = synth_faces.render(person, facs.emotion_aus(emotion), size=128)
      images.append(img), landmarks.append(lms), ids.append(seed)
  emb = embedder.embed(np.stack(images), np.stack(landmarks))
  assert np.all(np.isfinite(emb))
  ids = np.asarray(ids)
  dist = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
  same = (ids[:, None] == ids[None]) & ~np.eye(len(ids), dtype=bool)
  different = ids[:, None] != ids[None]
  # Measured over five disjoint sets of 10 identities: same 0.32-0.34, different 0.39-0.43.
  assert dist[same].mean() + 0.03 < dist[different].mean()


def test_small_faces_detected_and_blank_images_counted(embedder):
  from fxs_jax.data import synth_faces  # pylint: disable=import-outside-toplevel
  img, lms = synth_faces.render(synth_faces.sample_identity(1), np.zeros(17), size=64)
  detected = embedder.detect(img)
  assert detected.shape == (1, 68, 2)
  assert np.abs(detected[0] - lms).mean() < 3.0  # pixels of the 64 px image
  blank = np.full_like(img, 128)
  by_landmarks = embedder.embed(np.stack([img, blank]), np.stack([lms, np.full_like(lms, NAN)]))
  by_detection = embedder.embed(np.stack([img, blank]))
  assert embedder.last_num_missing == 1
  assert np.all(np.isnan(by_detection[1])) and np.all(np.isnan(by_landmarks[1]))
  # Landmark-aligned and detection-aligned chips of the same face: measured 0.14-0.17.
  assert np.linalg.norm(by_landmarks[0] - by_detection[0]) < 0.3


def test_identity_metrics_on_a_video(embedder):
  from fxs_jax.data import synth_faces  # pylint: disable=import-outside-toplevel
  frames, lms, _ = synth_faces.render_sequence(synth_faces.sample_identity(2),
                                               facs.emotion_aus("happy"), 3, size=64)
  videos = np.stack([frames, frames])
  videos[1, 2] = 128  # a frame without a face
  video_lms = np.stack([lms, lms])
  video_lms[1, 2] = NAN
  result = identity.identity_metrics(videos, videos[:, 0], video_lms, video_lms[:, 0],
                                     embedder=embedder)
  assert result["num_generated"] == 6 and result["faces_generated"] == 5
  assert result["faces_input"] == 2 and result["acd_i_pairs"] == 5
  assert (result["acd_videos"], result["acd_frames"]) == (2, 5)
  assert 0.0 < result["acd"] < 0.6 and 0.0 < result["acd_i"] < 0.6
  stills = identity.identity_metrics(frames[1:], frames[:2], lms[1:], lms[:2], embedder=embedder)
  assert stills["acd_i_pairs"] == 2 and "acd" not in stills
