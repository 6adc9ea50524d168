"""Behavioural tests of the SynthFaces renderer against independent oracles.

Pixel oracles are rasterised independently (skimage.draw.polygon) from the returned landmarks,
colours come from the Identity record, and the emotion prototypes are written out literally.
"""

import dataclasses

import numpy as np
import pytest
from skimage.draw import polygon as sk_polygon

from fxs_jax import facs
from fxs_jax import viz
from fxs_jax.data import synth_faces as sf

SIZE = 64
BG = (40.0, 150.0, 70.0)        # a plain green that no face part uses
SKIN = (228.0, 184.0, 152.0)
LIP = (172.0, 66.0, 78.0)


def _aus(**kw):
  out = np.zeros(facs.NUM_AUS, np.float32)
  for name, v in kw.items():
    out[facs.AU_NAMES.index(name)] = v
  return out


def _plain(seed, **overrides):
  """A bald identity with known colours on a plain background (pose jitter kept)."""
  idn = sf.sample_identity(seed)
  fields = dict(hair_style="bald", skin_rgb=SKIN, lip_rgb=LIP, bg_top_rgb=BG, bg_bottom_rgb=BG)
  fields.update(overrides)
  return dataclasses.replace(idn, **fields)


def _poly_mask(pts, size):
  rr, cc = sk_polygon(pts[:, 1], pts[:, 0], shape=(size, size))
  mask = np.zeros((size, size), bool)
  mask[rr, cc] = True
  return mask


def _lum(img):
  return img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _dist(pixels, rgb):
  return np.linalg.norm(pixels.astype(np.float64) - np.asarray(rgb), axis=-1)


# ---------------------------------------------------------------- constants / determinism

def test_constants_and_facs_reexports():
  assert sf.NUM_LANDMARKS == 68
  # Code written before the vocabulary moved to fxs_jax.facs reads it from here.
  for name in ("AU_NAMES", "NUM_AUS", "AU_DESCRIPTIONS", "AU_MAX", "EMOTIONS", "NUM_EMOTIONS",
               "emotion_aus"):
    assert getattr(sf, name) is getattr(facs, name), name


def test_determinism_and_identity_variation():
  a, b = sf.sample_identity(7), sf.sample_identity(7)
  assert a == b
  assert sf.sample_identity(np.random.default_rng(5)) == sf.sample_identity(
      np.random.default_rng(5))
  aus = facs.emotion_aus("happy")
  img1, lm1 = sf.render(a, aus, SIZE)
  img2, lm2 = sf.render(b, aus, SIZE)
  assert img1.dtype == np.uint8 and img1.shape == (SIZE, SIZE, 3)
  assert lm1.dtype == np.float32 and lm1.shape == (68, 2)
  assert np.array_equal(img1, img2) and np.array_equal(lm1, lm2)
  ids = [sf.sample_identity(s) for s in range(12)]
  assert len(set(ids)) == 12
  imgs = [sf.render(i, aus, SIZE)[0].astype(np.int16) for i in ids[:4]]
  for i in range(4):
    for j in range(i + 1, 4):
      assert np.abs(imgs[i] - imgs[j]).mean() > 5
  # variety: several hair styles and a wide skin-tone range
  many = [sf.sample_identity(s) for s in range(60)]
  assert len({i.hair_style for i in many}) >= 5
  lums = [np.mean(i.skin_rgb) for i in many]
  assert min(lums) < 110 and max(lums) > 200


# ---------------------------------------------------------------- landmarks

def test_landmarks_inside_image_and_consistent():
  rng = np.random.default_rng(0)
  for seed in range(40):
    idn = sf.sample_identity(seed)
    for aus in (rng.uniform(0, 5, facs.NUM_AUS), np.full(facs.NUM_AUS, 5.0),
                np.zeros(facs.NUM_AUS), _aus(AU26=5, AU25=5, AU12=5), _aus(AU01=5, AU02=5, AU05=5)):
      lm = sf.landmarks(idn, aus, SIZE)
      assert lm.shape == (68, 2) and lm.dtype == np.float32
      assert np.all(lm >= 0) and np.all(lm <= SIZE - 1), (seed, lm.min(0), lm.max(0))
  idn = sf.sample_identity(3)
  aus = facs.emotion_aus("fearful")
  assert np.array_equal(sf.render(idn, aus, 96)[1], sf.landmarks(idn, aus, 96))
  # landmarks scale with the image size (same canonical geometry)
  l64, l128 = sf.landmarks(idn, aus, 64), sf.landmarks(idn, aus, 128)
  np.testing.assert_allclose((l64 + 0.5) * 2, l128 + 0.5, atol=1e-3)


def test_ibug_layout_on_unposed_face():
  idn = dataclasses.replace(sf.sample_identity(1), pose_rot_deg=0.0, pose_tx=0.0, pose_ty=0.0)
  lm = sf.landmarks(idn, np.zeros(facs.NUM_AUS), 128)
  x, y = lm[:, 0], lm[:, 1]
  assert x[0] < x[8] < x[16] and y[8] == y.max()           # jaw: image-left -> chin -> right
  assert np.all(np.diff(x[17:22]) > 0) and np.all(np.diff(x[22:27]) > 0)
  assert x[21] < x[22] and np.all(np.diff(y[27:31]) > 0)   # bridge goes down to the tip 30
  assert np.all(np.diff(x[31:36]) > 0) and y[33] == y[31:36].max()
  for s in (36, 42):                                       # eyes: clockwise from left corner
    assert x[s] < x[s + 1] < x[s + 2] < x[s + 3] and x[s + 3] > x[s + 4] > x[s + 5] > x[s]
    assert y[s + 1] < y[s + 5] and y[s + 2] < y[s + 4]
  assert x[39] < x[42] and x[36] < x[39]
  assert np.all(np.diff(x[48:52]) > 0) and np.all(np.diff(x[51:55]) > 0)
  assert np.all(np.diff(x[54:60]) < 0) and y[57] > y[51]
  assert x[60] < x[62] < x[64] and y[66] >= y[62]
  # mirror symmetry about the image centre column (pixel centres at integers): x -> size-1-x
  mirror = np.r_[16:-1:-1, 26:16:-1, 27:31, 35:30:-1, 45:41:-1, 47, 46, 39:35:-1, 41, 40,
                 54:47:-1, 59:54:-1, 64:59:-1, 67:64:-1]
  np.testing.assert_allclose(x + x[mirror], 127.0, atol=1e-3)
  np.testing.assert_allclose(y, y[mirror], atol=1e-3)


def test_pixel_centre_convention_face_is_centred():
  idn = _plain(2, pose_rot_deg=0.0, pose_tx=0.0, pose_ty=0.0)
  img, lm = sf.render(idn, np.zeros(facs.NUM_AUS), 64)
  fg = _dist(img, BG) > 30
  cols = np.nonzero(fg)[1]
  assert abs(cols.mean() - 31.5) < 0.35
  assert abs(lm[8, 0] - 31.5) < 1e-3


def test_mouth_interior_is_dark_when_open():
  for seed in range(4):
    idn = _plain(seed)
    img, lm = sf.render(idn, _aus(AU25=5, AU26=5), SIZE)
    inside = _poly_mask(lm[60:68], SIZE)
    assert inside.sum() >= 12
    cheek = np.round((lm[3] + lm[31]) / 2).astype(int)
    skin_lum = _lum(img[cheek[1], cheek[0]])
    assert np.median(_lum(img[inside])) < 0.55 * skin_lum


def test_outer_lips_have_lip_colour():
  for seed in range(4):
    idn = _plain(seed)
    img, lm = sf.render(idn, np.zeros(facs.NUM_AUS), 128)
    px = img[_poly_mask(lm[48:60], 128)]
    d_lip, d_skin, d_bg = (np.median(_dist(px, c)) for c in (LIP, SKIN, BG))
    assert d_lip < 45 and d_lip < d_skin and d_lip < d_bg


def test_eyes_contain_sclera_and_iris():
  for seed in range(4):
    idn = sf.sample_identity(seed)
    img, lm = sf.render(idn, np.zeros(facs.NUM_AUS), 128)
    for s in (36, 42):
      lum = _lum(img[_poly_mask(lm[s:s + 6], 128)])
      assert lum.max() > 200             # sclera
      assert lum.min() < 0.6 * lum.max() - 20  # iris / pupil
    # blink (AU45 = 5): no sclera left around the eye
    img, lm = sf.render(idn, _aus(AU45=5), 128)
    c = lm[36:42].mean(0).round().astype(int)
    assert _lum(img[c[1] - 3:c[1] + 4, c[0] - 3:c[0] + 4]).max() < 235 or \
        sf.sample_identity(seed).skin_rgb[0] > 235


def test_jaw_contour_is_the_face_boundary():
  for seed in range(5):
    idn = _plain(seed)
    img, lm = sf.render(idn, np.zeros(facs.NUM_AUS), 128)
    centre = lm[27:36].mean(0)
    for i in (2, 3, 4, 12, 13, 14):
      n = lm[i] - centre
      n /= np.linalg.norm(n)
      out = np.round(lm[i] + 2.5 * n).astype(int)
      inn = np.round(lm[i] - 2.5 * n).astype(int)
      assert _dist(img[out[1], out[0]], BG) < 40, (seed, i)
      assert _dist(img[inn[1], inn[0]], SKIN) < 45, (seed, i)


# ---------------------------------------------------------------- action units

_BROW, _EYE, _NOSE, _MOUTH = range(17, 27), range(36, 48), range(27, 36), range(48, 68)
_AU_REGIONS = {  # AU: (its landmark group, its far-away region)
    "AU01": (_BROW, "below_nose"), "AU02": (_BROW, "below_nose"), "AU04": (_BROW, "below_nose"),
    "AU05": (_EYE, "mouth_down"), "AU06": (_EYE, "mouth_down"), "AU07": (_EYE, "mouth_down"),
    "AU45": (_EYE, "mouth_down"), "AU09": (_NOSE, "below_lips"),
    **{au: (_MOUTH, "brow_band") for au in ("AU10", "AU12", "AU14", "AU15", "AU20", "AU23",
                                             "AU25", "AU26")},
    "AU17": (list(_MOUTH) + [7, 8, 9], "brow_band"),  # chin boss included
}


def _region_masks(lm0, group, far, size, margin):
  pts = lm0[list(group)]
  (x0, y0), (x1, y1) = pts.min(0) - margin, pts.max(0) + margin
  yy, xx = np.mgrid[:size, :size]
  own = (xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1)
  if far == "below_nose":
    far_m = yy > lm0[31:36, 1].max() + 2
  elif far == "mouth_down":
    far_m = yy > lm0[48:55, 1].min() - 1
  elif far == "below_lips":
    far_m = yy > lm0[57, 1] + 4
  else:  # brow band and above
    far_m = yy < lm0[36:48, 1].min() - 2
  return own, far_m


@pytest.mark.parametrize("au", facs.AU_NAMES)
def test_each_au_changes_its_own_region_only(au):
  for seed in (0, 1, 2):
    idn = sf.sample_identity(seed)
    img0, lm0 = sf.render(idn, np.zeros(facs.NUM_AUS), SIZE)
    img5, lm5 = sf.render(idn, _aus(**{au: 5.0}), SIZE)
    group, far = _AU_REGIONS[au]
    own, far_m = _region_masks(lm0, group, far, SIZE, margin=4)
    diff = np.abs(img5.astype(np.float64) - img0.astype(np.float64)).mean(-1)
    assert diff[own].mean() > 1.5, (au, seed, diff[own].mean())
    assert diff[far_m].mean() < 0.05 and diff[far_m].max() < 8, (au, seed, diff[far_m].max())
    moved = np.linalg.norm(lm5 - lm0, axis=1)
    others = np.setdiff1d(np.arange(68), list(group) + list(range(0, 17)) + list(_NOSE))
    if au not in ("AU09",):
      assert moved[list(group)].max() > 0.5, (au, moved[list(group)].max())
    assert moved[others].max() < 1.5 or au in ("AU09",), (au, moved[others].max())


def test_au_directions():
  idn = dataclasses.replace(sf.sample_identity(4), pose_rot_deg=0.0)
  lm0 = sf.landmarks(idn, np.zeros(17), 128)

  def d(au, idx, v=5.0):
    return (sf.landmarks(idn, _aus(**{au: v}), 128) - lm0)[idx]
  assert d("AU01", 21)[1] < -1 and d("AU01", 22)[1] < -1          # inner brow up
  assert d("AU02", 17)[1] < -1 and d("AU02", 26)[1] < -1          # outer brow up
  assert d("AU04", 21)[1] > 1 and d("AU04", 21)[0] > 0 and d("AU04", 22)[0] < 0
  assert d("AU05", 37)[1] < -0.5                                  # upper lid up
  assert d("AU07", 41)[1] < -0.5                                  # lower lid up
  assert d("AU12", 48)[1] < -1 and d("AU12", 48)[0] < 0 and d("AU12", 54)[0] > 0
  assert d("AU15", 48)[1] > 1 and d("AU15", 54)[1] > 1
  assert d("AU20", 48)[0] < -1 and d("AU20", 54)[0] > 1
  assert d("AU26", 8)[1] > 3 and d("AU26", 57)[1] > 3
  assert d("AU10", 51)[1] < -1 and d("AU09", 33)[1] < -0.5
  # blink closes the eye: upper lid points meet the lower lid
  lb = sf.landmarks(idn, _aus(AU45=5), 128)
  np.testing.assert_allclose(lb[[37, 38, 43, 44]], lb[[41, 40, 47, 46]], atol=1e-3)
  # intensity is monotone
  ys = [sf.landmarks(idn, _aus(AU26=v), 128)[8, 1] for v in (0, 1, 2.5, 4, 5)]
  assert np.all(np.diff(ys) > 0)


# ---------------------------------------------------------------- emotions

def test_sample_emotion_aus():
  rng = np.random.default_rng(0)
  for name in facs.EMOTIONS:
    active = facs.emotion_aus(name) > 0
    draws = np.stack([sf.sample_emotion_aus(name, rng) for _ in range(50)])
    assert draws.dtype == np.float32 and np.all(draws >= 0) and np.all(draws <= 5)
    assert np.all((draws > 0) == active[None])
    if active.any():
      assert draws[:, active].std(0).min() > 0.05  # intensities vary
  assert np.array_equal(sf.sample_emotion_aus("sad", np.random.default_rng(3)),
                        sf.sample_emotion_aus("sad", np.random.default_rng(3)))


# ---------------------------------------------------------------- sequences

def test_onset_curve():
  c = sf.onset_curve(16)
  assert c.shape == (16,) and c[0] == 0.0 and c[-1] == 1.0
  assert np.all(np.diff(c) > 0) and np.all((c >= 0) & (c <= 1))
  assert c[1] < 1 / 15  # slow start (smooth onset)
  assert sf.onset_curve(2).tolist() == [0.0, 1.0]


def test_render_sequence():
  idn = sf.sample_identity(11)
  apex = facs.emotion_aus("surprised")
  frames, lms, aus = sf.render_sequence(idn, apex, 6, SIZE)
  assert frames.shape == (6, SIZE, SIZE, 3) and frames.dtype == np.uint8
  assert lms.shape == (6, 68, 2) and aus.shape == (6, 17) and aus.dtype == np.float32
  np.testing.assert_allclose(aus, sf.onset_curve(6)[:, None] * apex[None], atol=1e-6)
  img0, lm0 = sf.render(idn, np.zeros(17), SIZE)
  img1, lm1 = sf.render(idn, apex, SIZE)
  assert np.array_equal(frames[0], img0) and np.array_equal(lms[0], lm0)
  assert np.array_equal(frames[-1], img1) and np.array_equal(lms[-1], lm1)
  jaw = lms[:, 8, 1]
  assert np.all(np.diff(jaw) > 0)  # chin drops monotonically as the mouth opens


# ---------------------------------------------------------------- validation

def test_bad_inputs():
  idn = sf.sample_identity(0)
  with pytest.raises(ValueError, match=r"shape \(17,\).*\(16,\)"):
    sf.render(idn, np.zeros(16), SIZE)
  with pytest.raises(ValueError, match=r"\[0, 5\].*AU12"):
    sf.render(idn, _aus(AU12=6), SIZE)
  with pytest.raises(ValueError, match=r"\[0, 5\]"):
    sf.landmarks(idn, -np.ones(17), SIZE)
  with pytest.raises(ValueError, match="finite"):
    sf.render(idn, np.full(17, np.nan), SIZE)
  with pytest.raises(ValueError, match="size"):
    sf.render(idn, np.zeros(17), 16)
  with pytest.raises(ValueError, match="size"):
    sf.render(idn, np.zeros(17), 64.0)
  with pytest.raises(ValueError, match="emotion"):
    sf.sample_emotion_aus(8, np.random.default_rng(0))
  with pytest.raises(ValueError, match="shape"):
    sf.render_sequence(idn, np.zeros((2, 17)), 4, SIZE)


# ---------------------------------------------------------------- viz helpers

def test_viz_helpers(tmp_path):
  img = np.zeros((32, 32, 3), np.uint8)
  lm = np.stack([np.arange(68) % 17 * 1.8 + 1, np.arange(68) // 17 * 7 + 3], -1)
  out = viz.draw_landmarks(img, lm, radius=1)
  assert out.shape == img.shape and not np.shares_memory(out, img) and img.max() == 0
  assert tuple(out[3, 1]) == viz.LANDMARK_GROUP_COLOURS[0][1]   # landmark 0: jaw colour
  grid = viz.make_grid([img, img, img], ncols=2, pad=2, pad_value=255)
  assert grid.shape == (2 * 32 + 3 * 2, 2 * 32 + 3 * 2, 3) and grid[0, 0, 0] == 255
  viz.save_png(tmp_path / "a" / "g.png", grid)
  from PIL import Image
  assert np.array_equal(np.asarray(Image.open(tmp_path / "a" / "g.png")), grid)
