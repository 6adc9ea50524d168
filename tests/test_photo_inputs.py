"""An edit keeps what its input had (fxs_jax.photo_io): an RGBA photo comes back RGBA with its
alpha bit for bit, a grey one grey (the edit as ITU-R 601 luminance, the literal formula as the
oracle), the ICC profile survives PNG and JPEG round trips, a sideways phone JPEG is edited
upright and saved with EXIF orientation 1 and its other tags; unreadable files are explained in
one plain line. The photo is scikit-image's astronaut, the model the bundled 64 px GANimation."""

import numpy as np
import pytest
from PIL import Image
from PIL import ImageCms

import fxs_jax
from fxs_jax import edit
from fxs_jax import photo_io
from fxs_jax import photos
from fxs_jax.errors import UserError
from fxs_jax.faces import preprocessing

pytest.importorskip("dlib", reason="dlib not installed (pip install -e '.[faces]')")
skimage_data = pytest.importorskip("skimage.data", reason="needs scikit-image")

ORIENTATION, MAKE, DATETIME, EXIF_IFD, DATETIME_ORIGINAL = 0x0112, 0x010F, 0x0132, 0x8769, 0x9003
CLASS_NAMES = ("Error", "Exception", "OSError", "SyntaxError")


@pytest.fixture(scope="module")
def model():
  return fxs_jax.load("synthfaces/ganimation")


@pytest.fixture(scope="module")
def astronaut():
  return skimage_data.astronaut()


@pytest.fixture(scope="module")
def alpha():
  """A left-to-right alpha ramp over the background (0 at the left edge), opaque from x = 150 on
  (the face spans x 178-273), and a fully transparent block top right."""
  ramp = np.tile(np.linspace(0, 255, 150).astype(np.uint8), (512, 1))
  alpha = np.concatenate([ramp, np.full((512, 362), 255, np.uint8)], axis=1)
  alpha[:40, 440:] = 0
  return alpha


@pytest.fixture(scope="module")
def icc_profile():
  return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _face_and_far(result):
  """Masks of the face's landmark box and of pixels far (60 px) outside it."""
  shape = result.photo.shape[:2]
  ((x0, y0, x1, y1),) = result.boxes
  face, far = np.zeros(shape, bool), np.ones(shape, bool)
  face[y0:y1, x0:x1] = True
  far[max(y0 - 60, 0):y1 + 60, max(x0 - 60, 0):x1 + 60] = False
  return face, far


def _luminance_601(rgb):
  """ITU-R 601-2 luma, the literal formula (Pillow's "L" rounds it in fixed point)."""
  return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def test_rgba_in_rgba_out_with_the_same_alpha(model, astronaut, alpha, tmp_path):
  rgba = np.dstack([astronaut, alpha])
  rgba[:40, 440:, :3] = (255, 0, 0)  # colour hidden under alpha 0: kept too
  Image.fromarray(rgba).save(tmp_path / "cut_out.png")
  for photo in (rgba, tmp_path / "cut_out.png"):
    result = model.edit_photo(photo, emotion="happy")
    assert result.photo.shape == (512, 512, 4) and result.photo.dtype == np.uint8
    np.testing.assert_array_equal(result.photo[..., 3], alpha)
    face, far = _face_and_far(result)
    assert np.mean(result.photo[face][:, :3] != astronaut[face]) > 0.3  # the face changed
    np.testing.assert_array_equal(result.photo[far], rgba[far])
    assert np.asarray(result).shape == (512, 512, 4) and result.boxes.shape == (1, 4)
  np.testing.assert_array_equal(np.asarray(Image.open(result.save(tmp_path / "out.png"))),
                                result.photo)
  with Image.open(result.save(tmp_path / "out.jpg")) as jpeg:  # JPEG has no alpha: over white
    flat = np.asarray(jpeg)
  assert jpeg.mode == "RGB" and flat[:40, 440:].min() > 240 and flat[:, 0].min() > 240
  # The faces were found and edited on the photo over white: the RGB result agrees there.
  over_white = model.edit_photo(photo_io.read(rgba, "photo", lambda *_: None)[0],
                                emotion="happy")
  np.testing.assert_array_equal(result.photo[face][:, :3], over_white.photo[face])
  # Grey with alpha: a grey + alpha PNG comes back as one.
  grey = np.asarray(Image.fromarray(astronaut).convert("L"))
  Image.fromarray(np.dstack([grey, alpha]), "LA").save(tmp_path / "grey_cut_out.png")
  result = model.edit_photo(tmp_path / "grey_cut_out.png", emotion="happy")
  assert result.photo.shape == (512, 512, 2)
  np.testing.assert_array_equal(result.photo[..., 1], alpha)
  with Image.open(result.save(tmp_path / "grey_out.png")) as saved:
    assert saved.mode == "LA"


def test_grey_in_grey_out(model, astronaut, tmp_path):
  grey = np.asarray(Image.fromarray(astronaut).convert("L"))
  Image.fromarray(grey).save(tmp_path / "grey.png")
  # The oracle: the same photo edited as RGB, then the 601 luminance of the result.
  as_rgb = model.edit_photo(np.dstack([grey] * 3), emotion="happy").photo
  expected = _luminance_601(as_rgb)
  for photo in (grey, tmp_path / "grey.png"):
    result = model.edit_photo(photo, emotion="happy")
    assert result.photo.shape == (512, 512) and result.photo.dtype == np.uint8
    assert np.abs(result.photo - expected).max() < 0.51  # rounded, no colour
    face, far = _face_and_far(result)
    assert np.mean(result.photo[face] != grey[face]) > 0.3
    np.testing.assert_array_equal(result.photo[far], grey[far])
  with Image.open(result.save(tmp_path / "grey_out.png")) as saved:
    assert saved.mode == "L"
    np.testing.assert_array_equal(np.asarray(saved), result.photo)
  assert model.edit_photo(grey[..., None], emotion="happy").photo.shape == (512, 512, 1)
  # A grey picture stored as RGB (R = G = B) stays grey, in its three channels.
  assert np.all(as_rgb == as_rgb[..., :1])
  np.testing.assert_array_equal(as_rgb[..., 0], result.photo)
  # A transfer's result is its target's layout.
  transfer = fxs_jax.load("synthfaces/cgan_transfer").transfer_photo(astronaut, grey)
  assert transfer.photo.shape == (512, 512)


def test_16_bit_grey_is_edited_as_8_bit(model, astronaut, tmp_path):
  grey = np.asarray(Image.fromarray(astronaut).convert("L"))
  Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep.png")
  with Image.open(tmp_path / "deep.png") as deep:
    assert deep.mode.startswith("I")  # 16 bits a sample in the file
  result = model.edit_photo(tmp_path / "deep.png", emotion="happy")
  assert result.photo.dtype == np.uint8 and result.photo.shape == (512, 512)
  _, far = _face_and_far(result)
  np.testing.assert_array_equal(result.photo[far], grey[far])  # value / 257, not clipped


def test_icc_profile_survives_png_and_jpeg(model, astronaut, icc_profile, tmp_path):
  for suffix in (".png", ".jpg"):
    source = tmp_path / f"profiled{suffix}"
    Image.fromarray(astronaut).save(source, icc_profile=icc_profile)
    result = model.edit_photo(source, emotion="happy")
    assert result.icc_profile == icc_profile
    for out_suffix in (".png", ".jpg"):
      with Image.open(result.save(tmp_path / f"out{suffix}{out_suffix}")) as saved:
        assert saved.info.get("icc_profile") == icc_profile, (suffix, out_suffix)
  # A profile of another colour space does not fit the result: dropped.
  grey_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
  assert photo_io._icc_for(grey_profile, grey=False) is None  # pylint: disable=protected-access


def test_sideways_phone_photo_is_edited_upright_and_keeps_its_exif(model, astronaut, tmp_path):
  upright = astronaut[:, :400]  # 400 wide, 512 tall
  exif = Image.Exif()
  exif[ORIENTATION] = 6  # stored turned 90 degrees anticlockwise; shown turned back clockwise
  exif[MAKE] = "FXS Camera"
  exif[DATETIME] = "2024:05:01 12:00:00"
  exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = "2024:05:01 11:59:58"
  Image.fromarray(np.rot90(upright)).save(tmp_path / "phone.jpg", exif=exif, quality=95)
  with Image.open(tmp_path / "phone.jpg") as stored:
    decoded_upright = np.rot90(np.asarray(stored), -1)  # the oracle: numpy's rotation
  result = model.edit_photo(tmp_path / "phone.jpg", emotion="happy")
  assert result.photo.shape == (512, 400, 3)
  face, far = _face_and_far(result)
  np.testing.assert_array_equal(result.photo[far], decoded_upright[far])
  assert np.mean(result.photo[face] != decoded_upright[face]) > 0.3
  with Image.open(result.save(tmp_path / "phone_happy.jpg")) as saved:
    assert saved.size == (400, 512)
    tags = saved.getexif()
    assert tags[ORIENTATION] == 1 and tags[MAKE] == "FXS Camera"
    assert tags[DATETIME] == "2024:05:01 12:00:00"
    assert tags.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] == "2024:05:01 11:59:58"


def test_cli_outputs_keep_alpha_grey_and_exif(astronaut, alpha, icc_profile, tmp_path, capsys):
  folder = tmp_path / "album"
  folder.mkdir()
  Image.fromarray(np.dstack([astronaut, alpha])).save(folder / "cut_out.png",
                                                      icc_profile=icc_profile)
  Image.fromarray(astronaut).convert("L").save(folder / "grey.jpg")
  exif = Image.Exif()
  exif[ORIENTATION], exif[MAKE] = 8, "FXS Camera"
  Image.fromarray(np.rot90(astronaut, -1)).save(folder / "phone.jpg", exif=exif)
  (folder / "sub").mkdir()
  Image.fromarray(astronaut).save(folder / "sub" / "blocked.png")
  (tmp_path / "out").mkdir()
  (tmp_path / "out" / "sub").write_text("a file where the output's folder would go")
  code = edit.main([str(folder), "--model=synthfaces/ganimation", "--emotion=happy",
                    f"--out={tmp_path / 'out'}", "--quiet"])
  err = capsys.readouterr().err
  assert code == 1 and err.count("\n") == 1, err  # the blocked photo fails, the others go on
  blocked = tmp_path / "out" / "sub" / "blocked_happy.png"
  assert err.startswith(f"failed {folder / 'sub' / 'blocked.png'}: {blocked}: cannot write it: "
                        "a file stands where its folder should be"), err
  with Image.open(tmp_path / "out" / "cut_out_happy.png") as saved:
    assert saved.mode == "RGBA" and saved.info.get("icc_profile") == icc_profile
    np.testing.assert_array_equal(np.asarray(saved)[..., 3], alpha)
  with Image.open(tmp_path / "out" / "grey_happy.jpg") as saved:
    assert saved.mode == "L"
  with Image.open(tmp_path / "out" / "phone_happy.jpg") as saved:
    assert saved.getexif()[ORIENTATION] == 1 and saved.getexif()[MAKE] == "FXS Camera"


def _assert_plain(text: str, *phrases: str) -> None:
  assert "\n" not in text and "bytes not processed" not in text, text
  assert not any(name in text for name in CLASS_NAMES), text
  assert all(phrase in text for phrase in phrases), text


def test_unreadable_files_are_one_plain_line(astronaut, tmp_path, capsys, monkeypatch):
  (tmp_path / "notes.jpg").write_text("shopping list: eggs, milk")
  Image.fromarray(astronaut).save(tmp_path / "whole.jpg")
  data = (tmp_path / "whole.jpg").read_bytes()
  (tmp_path / "broken.jpg").write_bytes(data[:len(data) // 2])
  (tmp_path / "empty.jpg").write_bytes(b"")
  (tmp_path / "folder.jpg").mkdir()
  cases = {"notes.jpg": "not an image file Pillow can read (jpg, png",
           "broken.jpg": "the file is truncated or damaged; copy it again",
           "empty.jpg": "the file is empty; copy it again",
           "folder.jpg": "a folder, not",
           "missing.jpg": "no such file"}
  for name, phrase in cases.items():
    path = tmp_path / name
    with pytest.raises(UserError) as error:
      photos.read_photo(path)
    assert str(error.value).startswith(f"{path}: ")
    _assert_plain(str(error.value), phrase)
    skip = preprocessing.load_image(path)
    assert skip.reason.startswith(f"unreadable: {name}: ")
    _assert_plain(skip.reason)
  # Too large for Pillow to open at all (a decompression bomb guard), in megapixels.
  monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)  # refused from 100,000 px
  with pytest.raises(UserError) as error:
    photos.read_photo(tmp_path / "whole.jpg")
  _assert_plain(str(error.value), "0.262 MP is over the 0.1 MP limit", "downscale it first")
  monkeypatch.undo()
  _assert_plain(preprocessing.unreadable_reason(PermissionError(13, "Permission denied")),
                "permission denied")
  # The command says the same, on one line, before loading a model.
  assert edit.main([str(tmp_path / "notes.jpg"), "--model=synthfaces/ganimation",
                    "--emotion=happy"]) == 1
  err = capsys.readouterr().err
  assert err.startswith(f"error: {tmp_path / 'notes.jpg'}: unreadable: not an image file")
  _assert_plain(err.rstrip("\n"))
  # Writing: a file where the output's folder should be.
  with pytest.raises(UserError) as error:
    photos.save_photo(tmp_path / "whole.jpg" / "out.png", astronaut)
  _assert_plain(str(error.value), "cannot write it")
