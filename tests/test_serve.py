"""The browser editor (``fxs_jax.serve``): its batching runner and upload checks on their own, its
HTTP API (concurrent edits, time-outs, a full queue), and the page end to end in headless
Debian Chromium (playwright with ``executable_path``; CI installs chromium in ``.ci/run``)."""

import base64
import concurrent.futures
import io
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from fxs_jax.data import synth_faces
from fxs_jax.data import synth_faces_examples

IN_CI = bool(os.environ.get("CI"))
GANIMATION, LGPGAN, TRANSFER = ("synthfaces/ganimation", "synthfaces/lgpgan",
                                "synthfaces/cgan_transfer")
# What a message for the page must not hold: Python class names, Pillow's byte counts, reprs.
INTERNALS = re.compile(r"[A-Z][a-z]+Error|Exception|bytes|BytesIO|<|Traceback")


def _require(module: str):
  """``module`` imported; missing: a skip locally, a failure in CI (where it must run)."""
  try:
    return __import__(module, fromlist=["_"])
  except ImportError as e:
    if IN_CI:
      pytest.fail(f"{module} is missing in CI ({e}): the test extra installs it.")
    pytest.skip(f"{module} is not installed (pip install -e '.[test]')")


# ---- the runner, with a stand-in model (no JAX) ------------------------------------------------
class _RecordingModel:
  """``predict`` doubles the input and records the batch sizes it was called with."""

  def __init__(self):
    self.sizes = []

  def predict(self, name, batch):
    del name
    self.sizes.append(len(batch["x"]))
    return {"y": batch["x"] * 2}


def test_runner_merges_waiting_rows_and_only_uses_the_bucket_sizes():
  _require("starlette")
  from fxs_jax.serve import runner
  model = _RecordingModel()
  run = runner.ModelRunner(model, buckets=(1, 4))
  gate = threading.Event()
  run.submit(gate.wait)  # holds the worker while the predictions queue up
  futures = [run.predict("p", {"x": np.full((rows, 2), k, np.float32)})
             for k, rows in enumerate([1, 1, 2, 1, 6])]
  gate.set()
  results = [f.result(timeout=10) for f in futures]
  for k, ((outputs, timing), rows) in enumerate(zip(results, [1, 1, 2, 1, 6])):
    np.testing.assert_array_equal(outputs["y"], np.full((rows, 2), 2 * k))
    assert timing["model_ms"] >= 0
  # 1 + 1 + 2 merged (4 rows), then 1 alone (6 does not fit beside it), then 6 as 4 + 2 -> 4.
  assert model.sizes == [4, 1, 4, 4]
  assert run.calls == 4
  run.close()


def test_runner_drops_abandoned_jobs_and_refuses_a_full_queue():
  _require("starlette")
  from fxs_jax.serve import runner
  model = _RecordingModel()
  run = runner.ModelRunner(model, max_queue=2)
  gate = threading.Event()
  run.submit(gate.wait)
  time.sleep(0.1)  # the worker has taken the gate task: the queue is empty
  abandoned = run.predict("p", {"x": np.zeros((1, 1))})
  kept = run.predict("p", {"x": np.ones((1, 1))})
  with pytest.raises(runner.QueueFull, match="try again"):
    run.predict("p", {"x": np.ones((1, 1))})
  assert abandoned.cancel()  # what a timed-out request does
  gate.set()
  assert kept.result(timeout=10)[0]["y"].tolist() == [[2.0]]
  assert model.sizes == [1]  # the abandoned edit never ran
  failing = run.submit(lambda: 1 / 0)
  with pytest.raises(ZeroDivisionError):
    failing.result(timeout=10)
  assert run.predict("p", {"x": np.ones((1, 1))}).result(timeout=10)  # still serving
  run.close()


# ---- uploads and samples ------------------------------------------------------------------------
def _png(image) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="PNG")
  return buffer.getvalue()


def test_uploads_are_checked_with_one_line_messages():
  _require("starlette")
  from fxs_jax.serve import sessions
  photo = np.random.default_rng(0).integers(0, 255, (30, 40, 3), np.uint8)
  np.testing.assert_array_equal(sessions.decode_upload(_png(photo), "a.png"), photo)
  rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent: white, not black
  assert sessions.decode_upload(_png(rgba), "t.png").min() == 255
  huge = io.BytesIO()
  Image.new("1", (5000, 4000)).save(huge, format="PNG")  # 20 MP, a few kB
  jpeg = io.BytesIO()
  Image.fromarray(photo).save(jpeg, format="JPEG")
  png = _png(photo)
  cases = [(b"", 400, "empty"), (b"hello, not a photo", 415, "not an image"),
           (png[:60], 415, "PNG file is truncated or damaged"),
           (png[:len(png) // 2], 415, "PNG file is truncated or damaged"),
           (png[:5], 415, "PNG file is truncated or damaged"),  # too short for Pillow to open
           (jpeg.getvalue()[:-40], 415, "JPEG file is truncated or damaged"),  # "(n bytes not
           (huge.getvalue(), 413, "16 MP limit")]  # processed)", Pillow says
  for data, status, words in cases:
    with pytest.raises(sessions.ServeError, match=words) as info:
      sessions.decode_upload(data, "upload.bin")
    message = str(info.value)
    assert info.value.status == status and "\n" not in message
    assert not INTERNALS.search(message), message
    assert re.search(r"; (upload|open|downscale)", message), message  # and what to do
  icon = io.BytesIO()
  Image.new("RGB", (8, 8)).save(icon, format="ICO")
  with pytest.raises(sessions.ServeError, match="ICO images are not accepted"):
    sessions.decode_upload(icon.getvalue(), "icon.ico")


def test_sample_face_is_the_renderers_own_crop_of_the_sample_photo():
  _require("starlette")
  from fxs_jax.faces import alignment
  from fxs_jax.serve import sessions
  photo = sessions.sample_photo(1)
  identity = synth_faces_examples.identity_face(sessions.SAMPLE_IDENTITIES[1])
  crop, landmarks = synth_faces.render(identity, np.zeros(17, np.float32), 64)
  face = photo.faces(64)[0]
  np.testing.assert_array_equal(face.image, crop)
  # The crop transform carries the photo's landmarks onto the 64 px render's.
  np.testing.assert_allclose(alignment.apply_affine(face.transform, photo.landmarks[0]),
                             landmarks, atol=1e-3)
  with pytest.raises(sessions.ServeError, match="No sample face 99"):
    sessions.sample_photo(99)


def test_a_large_photos_preview_paste_matches_the_full_paste_downscaled():
  _require("starlette")
  from fxs_jax import photos
  from fxs_jax.serve import sessions
  sample = sessions.sample_photo(0)
  factor = 6  # a 1,536 px photo, shown at 1,024 px
  big = np.asarray(Image.fromarray(sample.image).resize((256 * factor,) * 2, Image.BICUBIC))
  photo = sessions.Photo("big.png", big, [(sample.landmarks[0] + 0.5) * factor - 0.5])
  assert photo.preview.shape == (1024, 1024, 3)
  crops = 255 - np.stack([f.image for f in photo.faces(64)])  # a strong, visible edit
  full = photos.fit_within(photos.paste_faces(big, photo.faces(64), crops), 1024)
  shown = photos.paste_faces(photo.preview, photo.preview_faces(64), crops)
  error = np.abs(shown.astype(float) - full)
  assert np.abs(full.astype(float) - photo.preview).mean() > 10  # the edit shows
  assert error.mean() < 0.3 and np.percentile(error, 99) < 4  # a 2 px shift gives a mean of 3


# ---- the served editor --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def editor():
  """The editor on the bundled GANimation (compiled at start-up), LGP-GAN and cGAN transfer
  (compiled on first use), served from a thread on a free port: ``(url, Editor)``."""
  _require("starlette")
  _require("uvicorn")
  import fxs_jax
  from fxs_jax.serve import app
  from fxs_jax.serve import browser
  models = {name: fxs_jax.load(name) for name in (GANIMATION, LGPGAN, TRANSFER)}
  web_app = app.create_app(models, timeout=120, warm_up=False)
  web_app.state.editor.warm_up([GANIMATION])
  with browser.serving(web_app) as url:
    yield url, web_app.state.editor
  web_app.state.editor.close()


def _call(url: str, body=None, headers=None):
  data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
  request = urllib.request.Request(url, data=data, headers=headers or {
      "Content-Type": "application/json"})
  try:
    with urllib.request.urlopen(request, timeout=180) as response:
      return response.status, json.loads(response.read())
  except urllib.error.HTTPError as e:
    return e.code, json.loads(e.read())


def _decode(data_url: str) -> np.ndarray:
  return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def test_api_concurrent_edits_timeouts_and_a_full_queue(editor):
  url, served = editor
  run = served.runners[GANIMATION]
  assert run.ready.wait(180)

  def edit(au12):
    aus = [0.0] * 17
    aus[8] = au12  # AU12, lip corner puller
    return _call(f"{url}/api/edit", {"model": GANIMATION, "photo": "sample-0", "aus": aus})

  calls = run.calls
  with concurrent.futures.ThreadPoolExecutor(4) as clients:
    answers = list(clients.map(edit, [0.0, 2.0, 4.0, 5.0]))
  assert all(status == 200 for status, _ in answers), answers
  images = [_decode(body["image"]) for _, body in answers]
  assert all(np.abs(images[0].astype(int) - other).max() > 0 for other in images[1:])
  assert run.calls - calls <= 4  # waiting edits share calls (how many depends on timing)

  gate = threading.Event()
  run.submit(gate.wait)  # the model is busy ...
  served.timeout = 0.5  # ... for longer than a request may wait
  try:
    status, body = edit(3.0)
    assert status == 504 and "took longer than 0.5 s" in body["error"]
  finally:
    served.timeout = 120
    gate.set()
  max_queue, run.max_queue = run.max_queue, 0
  try:
    status, body = edit(3.0)
    assert status == 503 and "busy" in body["error"]
  finally:
    run.max_queue = max_queue
  calls = run.calls  # an edit makes two calls: its target and its start (what it adds to)
  assert edit(1.0)[0] == 200 and run.calls == calls + 2  # the timed-out edit was dropped

  status, body = _call(f"{url}/api/photos?model={GANIMATION}", _png(np.full((200, 300, 3), 90,
                                                                           np.uint8)),
                       {"X-Filename": "wall.png"})
  assert status == 422 and body["error"].startswith("wall.png: no face found")
  truncated = _png(np.full((200, 300, 3), 90, np.uint8))
  status, body = _call(f"{url}/api/photos?model={GANIMATION}", truncated[:len(truncated) // 2],
                       {"X-Filename": "cut.png"})
  assert status == 415 and body["error"].startswith("cut.png: this PNG file is truncated")
  assert not INTERNALS.search(body["error"]), body["error"]
  assert _call(f"{url}/api/edit", {"model": GANIMATION, "photo": "gone"})[0] == 404
  assert _call(f"{url}/api/edit", {"model": "nope", "photo": "sample-0"})[0] == 400
  assert _call(f"{url}/api/health")[1]["ok"]


def _changed(edited: np.ndarray, photo: np.ndarray) -> np.ndarray:
  """(H, W) bool: the pixels an edit changed."""
  return np.abs(edited.astype(int) - photo).max(-1) > 0


def _download(url: str) -> np.ndarray:
  with urllib.request.urlopen(url) as response:
    return np.asarray(Image.open(io.BytesIO(response.read())))


def _inside(box) -> tuple[slice, slice]:
  """The rows and columns of a face's box (x0, y0, x1, y1)."""
  x0, y0, x1, y1 = np.round(box).astype(int)
  return slice(y0, y1 + 1), slice(x0, x1 + 1)


def test_api_reports_skipped_faces_and_edits_only_the_picked_ones(editor):
  """insightface's group photo: 5 faces, and the sixth (turned away) reported as skipped with
  why; an edit of face 0 alone leaves the other faces' pixels exactly; a bad ``faces`` is a
  one-line 400; ``thorough=1`` searches again."""
  from tests import real_photos
  url, _ = editor
  group = real_photos.group_photo()
  status, photo = _call(f"{url}/api/photos?model={GANIMATION}", _png(group),
                        {"X-Filename": "t1.png"})
  assert status == 200 and len(photo["faces"]) == 5 and photo["thorough"] is False
  [skipped] = photo["skipped"]
  assert re.match(r"weak detection \(score 0\.\d+ < 0\.3\): turned away", skipped["reason"])
  x0, y0, x1, y1 = skipped["box"]
  assert 850 < x0 < x1 < 1060 and 50 < y0 < y1 < 260  # the head at the back, top right

  aus = [0.0] * 17
  aus[8] = 5.0  # AU12, lip corner puller
  edit = {"model": GANIMATION, "photo": photo["id"], "aus": aus}
  status, body = _call(f"{url}/api/edit", {**edit, "faces": [0]})
  assert status == 200 and body["faces"] == [0] and len(body["crops"]) == 1
  changed = _changed(_download(url + body["downloads"]["png"]), group)
  assert changed[_inside(photo["faces"][0]["box"])].any()
  for face in photo["faces"][1:]:
    assert not changed[_inside(face["box"])].any()  # bit for bit
  rows, columns = np.nonzero(changed)  # and nothing far from face 0
  fx0, fy0, fx1, fy1 = photo["faces"][0]["box"]
  assert fx0 - 40 < columns.min() and columns.max() < fx1 + 40
  assert fy0 - 40 < rows.min() and rows.max() < fy1 + 40

  for faces, words in [("0", "must be a list of face indices"), ([], "faces is empty"),
                       ([5], "faces has 5, but this photo has faces 0-4"),
                       ([0.5], "must be a list of face indices")]:
    status, body = _call(f"{url}/api/edit", {**edit, "faces": faces})
    assert status == 400 and words in body["error"] and "\n" not in body["error"], body

  astronaut = real_photos.astronaut()  # small: a thorough search is quick
  status, photo = _call(f"{url}/api/photos?model={GANIMATION}&thorough=1", _png(astronaut),
                        {"X-Filename": "astronaut.png"})
  assert status == 200 and photo["thorough"] is True and len(photo["faces"]) == 1
  status, body = _call(f"{url}/api/photos?model={GANIMATION}&thorough=maybe", _png(astronaut),
                       {"X-Filename": "astronaut.png"})
  assert status == 400 and body["error"].startswith("thorough must be 1 or 0")


def test_editor_in_headless_chromium(editor, tmp_path):
  """Pick a sample, move a slider, upload the astronaut and download the edit, play and
  download the video, switch to LGP-GAN and the cGAN transfer, upload a non-image, upload the
  group photo (a skipped face in the caption) and leave a face out with a click."""
  url, _ = editor
  _require("playwright")
  if not _find_chromium():
    if IN_CI:
      pytest.fail("No chromium binary in CI: .ci/run installs Debian's chromium.")
    pytest.skip("No chromium binary on PATH (apt-get install chromium, or set FXS_CHROMIUM).")
  skimage_data = _require("skimage.data")
  _require("dlib")
  from fxs_jax.serve import browser
  elsewhere = []
  with browser.chromium_page() as page:
    page.on("request", lambda r: None if r.url.startswith((url, "data:"))
            else elsewhere.append(r.url))
    browser.wait_until_ready(url)
    page.goto(url)
    page.click("#samples button[data-sample='1']")
    neutral = browser.wait_idle(page)  # the first edit: every AU 0
    assert page.locator("#crops .crop svg circle").count() == 68  # the face's landmarks
    slider = page.locator("#au-AU12")
    slider.focus()
    page.keyboard.press("End")  # lip corner puller to 5, as a user's keyboard would
    assert slider.input_value() == "5"
    smiling = browser.result_changes(page, neutral)
    change = np.abs(_decode(smiling).astype(int) - _decode(neutral)).max(-1)
    assert change.max() > 20  # the edit shows

    photo = skimage_data.astronaut()
    (tmp_path / "astronaut.png").write_bytes(_png(photo))
    page.set_input_files("#upload", str(tmp_path / "astronaut.png"))
    page.wait_for_function("() => document.getElementById('photo-caption').textContent"
                           ".startsWith('astronaut.png · 512×512 · 1 face')", timeout=60_000)
    page.wait_for_selector("#download-png:not(.disabled)", timeout=60_000)
    with page.expect_download() as download:
      page.click("#download-png")
    assert download.value.suggested_filename == "astronaut_edit.png"
    edited = np.asarray(Image.open(download.value.path()))
    assert edited.shape == photo.shape
    changed = np.abs(edited.astype(int) - photo).max(-1) > 0
    assert changed[60:220, 150:280].any()  # the face (x 170-260, y 70-200) is edited
    assert not changed[300:].any() and not changed[:, 360:].any()  # the rest is the photo's

    page.click("#play")
    page.wait_for_selector("#download-gif:not(.disabled)", timeout=60_000)
    with page.expect_download() as download:
      page.click("#download-gif")
    with Image.open(download.value.path()) as gif:
      assert gif.format == "GIF" and gif.n_frames >= 2 and gif.size == (512, 512)
    with page.expect_download() as download:
      page.click("#download-mp4")
    assert open(download.value.path(), "rb").read(12)[4:8] == b"ftyp"

    page.select_option("#model", LGPGAN)  # emotion buttons; compiles on this first edit
    before = browser.wait_idle(page)
    page.click(".emotions button[data-emotion='surprised']")
    browser.result_changes(page, before, timeout_ms=120_000)

    page.select_option("#model", TRANSFER)  # the expression of a second face
    before = browser.wait_idle(page)  # the photo, unedited: no source yet
    page.click("#source-samples button[data-sample='4']")
    browser.result_changes(page, before, timeout_ms=120_000)
    assert page.locator("#source-crop .crop svg circle").count() == 68

    (tmp_path / "notes.txt").write_text("a shopping list, not a photo")
    page.set_input_files("#upload", str(tmp_path / "notes.txt"))
    page.wait_for_selector("#error:not([hidden])")
    assert "notes.txt: not an image" in page.inner_text("#error")
    assert _call(f"{url}/api/health")[1]["ok"]  # the server keeps serving ...
    before = page.get_attribute("#result", "src")
    page.click("#source-samples button[data-sample='6']")  # ... and the page keeps editing
    browser.result_changes(page, before, timeout_ms=60_000)
    assert page.is_hidden("#error")

    from tests import real_photos
    group = real_photos.group_photo()
    (tmp_path / "group.png").write_bytes(_png(group))
    page.set_input_files("#upload", str(tmp_path / "group.png"))
    page.wait_for_function("() => document.getElementById('photo-caption').textContent"
                           ".startsWith('group.png · 1280×886 · 5 faces ·')", timeout=60_000)
    caption = page.inner_text("#photo-caption")
    assert "· 1 skipped: weak detection" in caption and "turned away" in caption
    assert page.locator("#boxes rect.skipped").count() == 1  # drawn, dashed orange
    assert page.is_visible("#look-harder") and "4x" in page.get_attribute("#look-harder", "title")
    browser.wait_idle(page)  # the transfer onto all five faces
    with page.expect_request(lambda r: r.url.endswith("/api/edit")) as request:
      page.click("#boxes rect.face[data-face='0']")  # face 0: left out
    assert json.loads(request.value.post_data)["faces"] == [1, 2, 3, 4]
    browser.wait_idle(page)
    assert "5 faces (4 edited)" in page.inner_text("#photo-caption")
    assert page.locator("#crops .crop.off").count() == 1
    with page.expect_download() as download:
      page.click("#download-png")
    changed = _changed(np.asarray(Image.open(download.value.path())), group)
    boxes = [face["box"] for face in page.evaluate("state.photo.faces")]
    assert not changed[_inside(boxes[0])].any() and changed[_inside(boxes[1])].any()
  assert not elsewhere, f"the page fetched from elsewhere: {elsewhere}"


def _find_chromium():
  from fxs_jax.serve import browser
  return browser.find_chromium()


def test_motion_pipeline_plays_a_video_in_the_page(tmp_path):
  """TextureGAN with the bundled MotionGAN (the bundled TextureGAN when there is one, else a
  freshly initialised :smoke one): an emotion and Play give a GIF and an MP4."""
  _require("starlette")
  _require("uvicorn")
  import fxs_jax
  from fxs_jax import inference
  from fxs_jax.errors import UserError
  from fxs_jax.serve import app
  from fxs_jax.serve import browser
  from fxs_jax.serve import ops
  with pytest.raises(UserError, match="serve its TextureGAN run"):
    ops.kind_of(fxs_jax.load("synthfaces/motiongan"))
  if "synthfaces/texturegan" in inference.bundled_names():
    texture = fxs_jax.load("synthfaces/texturegan")
  else:
    from flax import nnx
    from configs import texturegan
    from fxs_jax.train import state as state_lib
    config = texturegan.get_config("smoke")
    config.video.motion = "synthfaces/motiongan"
    recipe = inference.recipe_for(config)
    graphdef, params, rest = state_lib.split(recipe.build_generator(nnx.Rngs(0)))
    texture = inference.from_state(recipe, graphdef, params, rest, step=0)
  web_app = app.create_app({"texture": texture}, timeout=120)
  with browser.serving(web_app) as url:
    status, body = _call(f"{url}/api/edit", {"photo": "sample-3"})
    assert status == 400 and "press Play" in body["error"]
    status, body = _call(f"{url}/api/play", {"photo": "sample-3", "emotion": "neutral"})
    assert status == 400 and "happy" in body["error"]
    status, body = _call(f"{url}/api/play", {"photo": "sample-3", "emotion": "happy", "seed": 2})
    assert status == 200 and body["frames"] == ops.VIDEO_FRAMES
    with urllib.request.urlopen(url + body["downloads"]["mp4"]) as response:
      assert response.read(12)[4:8] == b"ftyp"
    _require("playwright")
    if not _find_chromium():
      if IN_CI:
        pytest.fail("No chromium binary in CI: .ci/run installs Debian's chromium.")
      pytest.skip("No chromium binary on PATH (apt-get install chromium, or set FXS_CHROMIUM).")
    with browser.chromium_page() as page:
      browser.wait_until_ready(url)
      page.goto(url)
      page.click("#samples button[data-sample='3']")
      browser.wait_idle(page)
      page.click(".emotions button[data-emotion='surprised']")
      page.click("#play")
      page.wait_for_selector("#download-mp4:not(.disabled)", timeout=120_000)
      with page.expect_download() as download:
        page.click("#download-gif")
      assert download.value.suggested_filename == "synthfaces_303_surprised.gif"
      with Image.open(download.value.path()) as gif:  # (random weights: maybe one frame)
        assert gif.format == "GIF" and gif.size == (256, 256)
  web_app.state.editor.close()
