"""SynthFaces identities: the frozen :class:`Identity` record and its random sampler.

All lengths are in *canonical* units: fractions of the output image side, with the canonical
face frame's origin at the image's top-left corner (x right, y down), before the identity's pose
(similarity) transform is applied. Colours are (r, g, b) floats in 0-255.
"""

from __future__ import annotations

import colorsys
import dataclasses

import numpy as np

HAIR_STYLES = ("short", "long", "bob", "buzz", "bun", "bald", "afro")

# Skin tones from very light to very dark (roughly Fitzpatrick I-VI); sampled by interpolation.
_SKIN_PALETTE = np.array([
    (255, 226, 206), (246, 208, 180), (236, 190, 152), (222, 167, 122), (200, 140, 96),
    (166, 110, 72), (128, 82, 54), (94, 60, 40), (66, 43, 31)], dtype=np.float64)

HAIR_COLOURS = {
    "black": (30, 26, 26), "dark_brown": (64, 43, 31), "brown": (112, 76, 48),
    "blonde": (214, 178, 118), "red": (160, 72, 38), "grey": (172, 170, 168),
}
IRIS_COLOURS = {
    "brown": (118, 72, 38), "dark_brown": (66, 40, 26), "hazel": (136, 112, 58),
    "green": (78, 128, 80), "blue": (72, 122, 182), "grey": (126, 138, 146),
}

RGB = tuple  # (r, g, b) floats 0-255


@dataclasses.dataclass(frozen=True)
class Identity:
  """Every per-person parameter of a SynthFaces face (shape, colours, hair, background, pose).

  Geometry is in canonical units (fractions of the image side, see module docstring). The pose
  fields describe the similarity transform applied to the whole drawing (and the landmarks) about
  the canonical pivot (0.5, 0.55): isotropic ``pose_scale``, in-plane rotation ``pose_rot_deg``
  (positive = clockwise on screen) and translation ``(pose_tx, pose_ty)``.
  """
  # face outline
  face_half_width: float   # half width of the face at the jaw's top (landmarks 0 / 16)
  jaw_depth: float         # vertical distance from landmarks 0/16 down to the chin (8)
  jaw_width: float         # 0.75-1: narrow (pointed) to wide (square) lower jaw
  chin_exponent: float     # superellipse exponent of the jaw: <2 pointed, >2 square
  forehead_height: float   # from the jaw top (0/16) up to the top of the skull
  # eyes
  eye_y: float             # y of the eye-corner line
  eye_half_spacing: float  # half the distance between the two eye centres
  eye_width: float         # corner to corner
  eye_open: float          # upper-lid height above the corner line (fraction of eye_width)
  eye_lower: float         # lower-lid depth below the corner line (fraction of eye_width)
  eye_tilt: float          # outer corner raised by this much (canonical units)
  iris_radius: float       # fraction of eye_width
  # brows
  brow_gap: float          # brow base height above the eye-corner line
  brow_thickness: float
  brow_arch: float
  brow_length: float       # lateral extent multiplier
  # nose and mouth
  nose_length: float       # from the eye line to the nose tip (30)
  nose_width: float        # half width of the alar base (31 / 35)
  mouth_gap: float         # from the subnasale (33) down to the mouth line
  mouth_half_width: float
  upper_lip: float         # upper-lip height at the cupid's bow
  lower_lip: float         # lower-lip height at the centre
  ear_size: float
  # hair
  hair_style: str          # one of HAIR_STYLES
  hair_volume: float       # 0-1, thickness of the hair mass
  # colours
  skin_rgb: RGB
  lip_rgb: RGB
  iris_rgb: RGB
  brow_rgb: RGB
  hair_rgb: RGB
  shirt_rgb: RGB
  bg_top_rgb: RGB
  bg_bottom_rgb: RGB       # equal to bg_top_rgb for a solid background
  blush: float             # 0-1 cheek blush strength
  # pose jitter
  pose_scale: float
  pose_tx: float
  pose_ty: float
  pose_rot_deg: float


def _rgb(v) -> RGB:
  return tuple(float(round(min(255.0, max(0.0, c)), 3)) for c in v)


def _hsv(h, s, v) -> np.ndarray:
  return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v)) * 255.0


def sample_identity(seed) -> Identity:
  """Samples an :class:`Identity` from an int seed or a ``np.random.Generator`` (consumed)."""
  if isinstance(seed, np.random.Generator):
    rng = seed
  elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
    rng = np.random.default_rng(int(seed))
  else:
    raise TypeError(f"seed must be an int or a np.random.Generator, got {type(seed).__name__}.")
  u = rng.uniform

  # Skin: interpolate the palette, then a small warmth / lightness jitter.
  t = u(0.0, 1.0) * (len(_SKIN_PALETTE) - 1)
  i0 = min(int(t), len(_SKIN_PALETTE) - 2)
  skin = _SKIN_PALETTE[i0] * (1 - (t - i0)) + _SKIN_PALETTE[i0 + 1] * (t - i0)
  skin = skin * u(0.96, 1.03) + np.array([u(-4, 6), u(-4, 3), u(-6, 3)])
  skin = np.clip(skin, 0, 255)
  # Lips: a redder, slightly darker version of the skin (mauve-tinted on dark skin).
  dk = 1.0 - skin.mean() / 255.0
  lip = skin * np.array([0.93, 0.63, 0.67]) * u(0.86, 1.0) + np.array([42.0, 8.0, 22.0]) * dk

  hair_style = HAIR_STYLES[int(rng.integers(len(HAIR_STYLES)))]
  hair_names = list(HAIR_COLOURS)
  dark_skin = skin.mean() < 125  # darker skin: mostly black / dark-brown hair
  hair_p = [.55, .25, .08, .03, .02, .07] if dark_skin else [.22, .22, .18, .18, .1, .1]
  hair_name = hair_names[int(rng.choice(len(hair_names), p=hair_p))]
  hair = np.array(HAIR_COLOURS[hair_name]) * u(0.9, 1.1)
  if hair_name in ("blonde", "grey"):
    brow = hair * u(0.55, 0.7)
  elif hair_name == "red":
    brow = hair * u(0.6, 0.8)
  else:
    brow = hair * u(0.75, 0.95)
  if hair_style == "bald":
    brow = np.array(HAIR_COLOURS[["black", "dark_brown", "brown"][int(rng.integers(3))]])
  brow = brow * min(1.0, 0.5 * skin.mean() / max(brow.mean(), 1.0))  # brows darker than skin
  iris_names = list(IRIS_COLOURS)
  iris = np.array(IRIS_COLOURS[iris_names[int(rng.choice(len(iris_names),
                                                         p=[.3, .25, .12, .1, .13, .1]))]])
  iris = iris * u(0.9, 1.1)

  bg_h, bg_s, bg_v = u(0, 1), u(0.08, 0.32), u(0.55, 0.9)
  bg_top = _hsv(bg_h, bg_s, bg_v)
  bg_bottom = bg_top * u(0.7, 0.9) if u() < 0.6 else bg_top
  shirt = _hsv(u(0, 1), u(0.2, 0.7), u(0.25, 0.8))

  return Identity(
      face_half_width=u(0.245, 0.28), jaw_depth=u(0.35, 0.40), jaw_width=u(0.78, 1.0),
      chin_exponent=u(1.9, 2.7), forehead_height=u(0.30, 0.35),
      eye_y=u(0.43, 0.455), eye_half_spacing=u(0.105, 0.122), eye_width=u(0.10, 0.118),
      eye_open=u(0.27, 0.33), eye_lower=u(0.16, 0.21), eye_tilt=u(-0.004, 0.01),
      iris_radius=u(0.32, 0.35),
      brow_gap=u(0.055, 0.072), brow_thickness=u(0.011, 0.02), brow_arch=u(0.006, 0.02),
      brow_length=u(0.85, 1.1),
      nose_length=u(0.115, 0.14), nose_width=u(0.038, 0.052), mouth_gap=u(0.06, 0.075),
      mouth_half_width=u(0.072, 0.09), upper_lip=u(0.017, 0.026), lower_lip=u(0.022, 0.032),
      ear_size=u(0.9, 1.1), hair_style=hair_style, hair_volume=u(0.0, 1.0),
      skin_rgb=_rgb(skin), lip_rgb=_rgb(lip), iris_rgb=_rgb(iris), brow_rgb=_rgb(brow),
      hair_rgb=_rgb(hair), shirt_rgb=_rgb(shirt), bg_top_rgb=_rgb(bg_top),
      bg_bottom_rgb=_rgb(bg_bottom), blush=u(0.0, 1.0),
      pose_scale=u(0.98, 1.1), pose_tx=u(-0.04, 0.04), pose_ty=u(-0.04, 0.03),
      pose_rot_deg=u(-8.0, 8.0),
  )
