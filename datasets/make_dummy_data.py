"""Regenerates each manual dataset's ``dummy_data/``: tiny fake trees in the real layouts.

``python datasets/make_dummy_data.py [rafd ck_plus ...]`` (default: all). Faces are drawn by the
SynthFaces renderer (:func:`fxs_jax.data.synth_faces.render`) on a larger background, so the
builders really detect (RaFD) or crop with shipped landmarks (CK+). Every tree has 3-7 subjects
(train, validation and test non-empty; RaFD's and CK+'s are too few for three transfer groups of
two, so their ``transfer_smoke`` has train and test only) and one corrupt image, to exercise the
skip report. Deterministic: the
identity seeds are the first ones dlib finds a face in at every expression used.
"""

from __future__ import annotations

import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from fxs_jax import facs
from fxs_jax import faces
from fxs_jax.data import synth_faces

ROOT = Path(__file__).resolve().parent
FACE_SIZE = 144  # dlib's HOG detector finds most SynthFaces faces from ~128 px
CANVAS = (176, 208)  # (width, height), portrait like RaFD
CK_EMOTIONS = ("neutral", "angry", "contemptuous", "disgusted", "fearful", "happy", "sad",
               "surprised")  # the builder's codes 0-7
# N_0 ... N_5 of the au_faces tree
AU_FACES_EMOTIONS = ("happy", "sad", "surprised", "angry", "happy", "surprised")
CORRUPT_BYTES = b"\xff\xd8\xff\xe0 this is not a JPEG, the build must skip it"


def _on_canvas(face_HxWx3: np.ndarray, landmarks_68x2: np.ndarray, grey: bool = False):
  """The face pasted in the middle of a plain background, and its landmarks moved with it."""
  width, height = CANVAS
  canvas = np.full((height, width, 3), (96, 112, 128), np.uint8)
  x0, y0 = (width - FACE_SIZE) // 2, (height - FACE_SIZE) // 2
  canvas[y0:y0 + FACE_SIZE, x0:x0 + FACE_SIZE] = face_HxWx3
  image = Image.fromarray(canvas)
  return (image.convert("L") if grey else image), landmarks_68x2 + np.float32([x0, y0])


def _detectable_identities(count: int, emotions, start: int = 0) -> list:
  """The first ``count`` SynthFaces identities dlib finds at every emotion of ``emotions``."""
  chosen, seed = [], start
  while len(chosen) < count:
    identity = synth_faces.sample_identity(seed)
    seed += 1
    for emotion in emotions:
      image, landmarks = _on_canvas(*synth_faces.render(identity, facs.emotion_aus(emotion),
                                                        FACE_SIZE))
      if isinstance(faces.preprocess(np.asarray(image), 64), faces.Skip):
        break
    else:
      chosen.append(identity)
  return chosen


def _fresh(name: str) -> Path:
  folder = ROOT / name / "dummy_data"
  shutil.rmtree(folder, ignore_errors=True)
  folder.mkdir(parents=True)
  return folder


def make_rafd() -> None:
  """4 models x (neutral, happy, sad) frontal (two per split of ``transfer_smoke``), one
  045-angle photo, one corrupt JPEG."""
  folder = _fresh("rafd")
  emotions = ("neutral", "happy", "sad")
  identities = _detectable_identities(4, emotions)
  for number, identity in enumerate(identities, start=1):
    for emotion in emotions:
      image, _ = _on_canvas(*synth_faces.render(identity, facs.emotion_aus(emotion), FACE_SIZE))
      image.save(folder / f"Rafd090_{number:02d}_Caucasian_female_{emotion}_frontal.jpg",
                 quality=85)
  image, _ = _on_canvas(*synth_faces.render(identities[2], facs.emotion_aus("happy"), FACE_SIZE))
  image.save(folder / "Rafd045_03_Caucasian_female_happy_frontal.jpg", quality=85)
  (folder / "Rafd090_02_Caucasian_female_angry_frontal.jpg").write_bytes(CORRUPT_BYTES)


def _write_ck_sequence(root: Path, subject: str, sequence: str, identity, emotion: str,
                       num_frames: int = 5, labelled: bool = True, grey: bool = True
                       ) -> list[Path]:
  """One CK+ sequence (grey PNGs, or colour ones as some CK+ subjects have; landmark, FACS and
  Emotion files); returns the frame paths."""
  code = CK_EMOTIONS.index(emotion)
  frames, landmarks, aus = synth_faces.render_sequence(identity, facs.emotion_aus(emotion),
                                                       num_frames, FACE_SIZE)
  paths = []
  for tree in ("cohn-kanade-images", "Landmarks", "Emotion", "FACS"):
    (root / tree / subject / sequence).mkdir(parents=True, exist_ok=True)
  for i, (frame, points) in enumerate(zip(frames, landmarks), start=1):
    stem = f"{subject}_{sequence}_{i:08d}"
    image, points = _on_canvas(frame, points, grey=grey)
    paths.append(root / "cohn-kanade-images" / subject / sequence / f"{stem}.png")
    image.save(paths[-1])
    (root / "Landmarks" / subject / sequence / f"{stem}_landmarks.txt").write_text(
        "".join(f"   {x:.7e}   {y:.7e}\n" for x, y in points))
  peak = f"{subject}_{sequence}_{num_frames:08d}"
  # FACS files list the AUs present at the peak; 0 intensity means "unspecified", and CK+ also
  # codes AUs outside GANimation's 17 (AU24 here: dropped by the builder).
  coded = [(int(name[2:]), round(v)) for name, v in zip(facs.AU_NAMES, aus[-1]) if v > 0]
  coded[0] = (coded[0][0], 0)  # the first AU's intensity "unspecified"
  facs_lines = [f"   {au:.7e}   {v:.7e}" for au, v in coded + [(24, 0)]]
  (root / "FACS" / subject / sequence / f"{peak}_facs.txt").write_text(
      "\n".join(facs_lines) + "\n")
  if labelled:
    (root / "Emotion" / subject / sequence / f"{peak}_emotion.txt").write_text(
        f"   {code:.7e}\n")
  return paths


def make_ck_plus() -> None:
  """5 subjects with labelled 4-5 frame sequences, one unlabelled sequence, a labelled sequence
  whose peak frame is a corrupt PNG, one in colour (S006/001) and one whose FACS file is corrupt
  (S005/002). S006 repeats S005's emotion and S012 two of S011's (and one of S010's), so that
  ``transfer_smoke`` has pairs in both splits."""
  root = _fresh("ck_plus")
  ids = [synth_faces.sample_identity(seed) for seed in (0, 2, 3, 4, 5)]
  _write_ck_sequence(root, "S006", "001", ids[3], "surprised", num_frames=4, grey=False)
  _write_ck_sequence(root, "S012", "001", ids[4], "disgusted", num_frames=4)
  _write_ck_sequence(root, "S012", "002", ids[4], "happy", num_frames=4)
  _write_ck_sequence(root, "S005", "001", ids[0], "surprised")
  _write_ck_sequence(root, "S005", "002", ids[0], "sad", num_frames=4)
  (root / "FACS" / "S005" / "002" / "S005_002_00000004_facs.txt").write_text("AU12 strong\n")
  _write_ck_sequence(root, "S010", "001", ids[1], "happy")
  _write_ck_sequence(root, "S010", "002", ids[1], "sad", labelled=False)
  _write_ck_sequence(root, "S011", "001", ids[2], "disgusted")
  _write_ck_sequence(root, "S011", "003", ids[2], "fearful", num_frames=4)  # test batch of 2
  paths = _write_ck_sequence(root, "S011", "002", ids[2], "angry")
  paths[-1].write_bytes(b"\x89PNG\r\n\x1a\n truncated: the build must skip it")


def _openface_row(aus, landmarks, leading: list) -> str:
  values = leading + [f"{v:.3f}" for v in landmarks[:, 0]] + [f"{v:.3f}" for v in landmarks[:, 1]]
  return ", ".join(values + [f"{v:.2f}" for v in aus])


def _openface_header(leading: list) -> str:
  return ", ".join(leading + [f"x_{i}" for i in range(68)] + [f"y_{i}" for i in range(68)]
                   + [f"{name}_r" for name in facs.AU_NAMES])


def make_au_faces() -> None:
  """The three AU sources, each beside its own imgs/ (one corrupt photo and six good ones):
  ganimation/ (aus_openface.pkl + id files, N_2 and N_3 in test), openface_images/
  (FaceLandmarkImg CSV per photo, one with two faces) and openface_video/ (one FeatureExtraction
  CSV, one failed frame). Six good photos leave train, validation and test a usable face each
  with a bad label or two planted."""
  root = _fresh("au_faces")
  rng = np.random.default_rng(0)
  photos, seed = [], 0
  for emotion in AU_FACES_EMOTIONS:
    while True:  # the pickle layout has no landmarks: dlib must find every face
      aus = synth_faces.sample_emotion_aus(emotion, rng)
      image, landmarks = _on_canvas(*synth_faces.render(synth_faces.sample_identity(seed), aus,
                                                        FACE_SIZE))
      seed += 1
      if not isinstance(faces.preprocess(np.asarray(image), 64), faces.Skip):
        break
    photos.append((f"N_{len(photos):010d}", image, landmarks, aus))
  # The corrupt photo sorts first (so the last, test, photo is a good one) and has AUs too, so
  # that the builder really tries to read it.
  photos.insert(0, ("C_0000000000", None, photos[0][2], photos[0][3]))
  names = [name for name, _, _, _ in photos]
  for layout in ("ganimation", "openface_images", "openface_video"):
    (root / layout / "imgs").mkdir(parents=True)
    for name, image, _, _ in photos:
      if image is None:
        (root / layout / "imgs" / f"{name}.jpg").write_bytes(CORRUPT_BYTES)
      else:
        image.save(root / layout / "imgs" / f"{name}.jpg", quality=85)
  # GANimation: the pickle and its id files (with the .jpg suffix, as GANimation writes them).
  with open(root / "ganimation" / "aus_openface.pkl", "wb") as f:
    pickle.dump({name: aus for name, _, _, aus in photos}, f)
  test_names = names[3:5]
  (root / "ganimation" / "train_ids.csv").write_text(
      "\n".join(f"{n}.jpg" for n in names if n not in test_names))
  (root / "ganimation" / "test_ids.csv").write_text("\n".join(f"{n}.jpg" for n in test_names))
  # FaceLandmarkImg: one CSV per photo; N_0000000001's lists two faces.
  folder = root / "openface_images" / "openface"
  folder.mkdir()
  for name, _, landmarks, aus in photos:
    rows = [_openface_row(aus, landmarks, ["0", "0.98"])]
    if name == "N_0000000001":
      rows.append(_openface_row(aus, landmarks + 5, ["1", "0.90"]))
    (folder / f"{name}.csv").write_text(
        "\n".join([_openface_header(["face", "confidence"])] + rows) + "\n")
  # FeatureExtraction over imgs/: frame k = k-th photo in sorted order; frame 3 failed.
  folder = root / "openface_video" / "openface"
  folder.mkdir()
  rows = [_openface_header(["frame", "face_id", "timestamp", "confidence", "success"])]
  for k, (_, _, landmarks, aus) in enumerate(photos, start=1):
    success = "0" if k == 3 else "1"
    rows.append(_openface_row(aus, landmarks, [str(k), "0", f"{k / 30:.3f}", "0.98", success]))
  (folder / "imgs.csv").write_text("\n".join(rows) + "\n")


def _detectable_clip(seed: int, emotion: str, num_frames: int):
  """(next seed, canvas frames) of the first identity from ``seed`` whose neutral -> apex clip
  of ``emotion`` dlib finds a face in at every frame."""
  while True:
    identity = synth_faces.sample_identity(seed)
    seed += 1
    frames, landmarks, _ = synth_faces.render_sequence(identity, facs.emotion_aus(emotion),
                                                       num_frames, FACE_SIZE)
    images = [_on_canvas(f, p)[0] for f, p in zip(frames, landmarks)]
    if not any(isinstance(faces.preprocess(np.asarray(i), 64), faces.Skip) for i in images):
      return seed, images


def make_oulu_casia() -> None:
  """3 subjects x 2 emotions, 3-frame neutral -> apex clips (JPEG) under OriginalImg/VL/Strong;
  P002's Surprise clip has a corrupt middle frame."""
  root = _fresh("oulu_casia") / "OriginalImg" / "VL" / "Strong"
  clips = {"P001": ("Happiness", "Surprise"), "P002": ("Happiness", "Surprise"),
           "P003": ("Happiness", "Sadness")}
  words = {"Happiness": "happy", "Surprise": "surprised", "Sadness": "sad"}
  seed = 0
  for subject, emotions in clips.items():
    for emotion in emotions:
      seed, images = _detectable_clip(seed, words[emotion], 3)
      folder = root / subject / emotion
      folder.mkdir(parents=True)
      for i, image in enumerate(images):
        image.save(folder / f"{i:03d}.jpeg", quality=80)
  (root / "P002" / "Surprise" / "001.jpeg").write_bytes(CORRUPT_BYTES)


def make_mug() -> None:
  """3 subjects x 2 emotions, one 5-frame take each (neutral -> apex -> neutral), an (unread)
  neutral take; subject 002's surprise take has a corrupt frame in its first half."""
  root = _fresh("mug") / "subjects3"
  clips = {"001": ("happiness", "surprise"), "002": ("happiness", "surprise"),
           "003": ("happiness", "sadness")}
  words = {"happiness": "happy", "surprise": "surprised", "sadness": "sad"}
  seed = 0
  for subject, emotions in clips.items():
    for emotion in emotions:
      seed, images = _detectable_clip(seed, words[emotion], 3)
      folder = root / subject / emotion / "take000"
      folder.mkdir(parents=True)
      for i, image in enumerate(images + images[-2::-1], start=1):  # onset, apex, offset
        image.save(folder / f"img_{i:04d}.jpg", quality=80)
  (root / "002" / "surprise" / "take000" / "img_0002.jpg").write_bytes(CORRUPT_BYTES)
  neutral = root / "001" / "neutral" / "take000"
  neutral.mkdir(parents=True)
  (neutral / "img_0001.jpg").write_bytes((root / "001" / "happiness" / "take000" /
                                          "img_0001.jpg").read_bytes())


MAKERS = {"rafd": make_rafd, "ck_plus": make_ck_plus, "au_faces": make_au_faces,
          "oulu_casia": make_oulu_casia, "mug": make_mug}


def main(names: list[str]) -> None:
  for name in names or MAKERS:
    MAKERS[name]()
    print(f"wrote {ROOT / name / 'dummy_data'}")


if __name__ == "__main__":
  main(sys.argv[1:])
