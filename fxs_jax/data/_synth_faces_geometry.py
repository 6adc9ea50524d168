"""SynthFaces geometry: the 68 iBUG landmarks and the dense feature curves, in canonical units.

Everything is a function of (Identity, normalised AUs ``a`` in [0, 1]). The drawing module only
draws these curves (after the pose transform), so the landmarks are samples of the drawn contours
by construction. Canonical units: fractions of the image side, origin top-left, x right, y down.
"""

from __future__ import annotations

import numpy as np

# Indices into the 17-AU vector (GANimation / OpenFace order).
AU01, AU02, AU04, AU05, AU06, AU07, AU09, AU10, AU12, AU14, AU15, AU17, AU20, AU23, AU25, AU26, \
    AU45 = range(17)

PIVOT = np.array([0.5, 0.55])

_EYE_S = np.linspace(0.0, 1.0, 25)          # dense lid parameter; 1/3 and 2/3 hit exactly below
_BROW_T = np.linspace(0.0, 1.0, 17)          # contains 0, .25, .5, .75, 1
_JAW_N = 16 * 4 + 1                          # jaw landmarks are every 4th dense sample
_LIP_U = np.linspace(-1.0, 1.0, 41)
_OUTER_UP_U = np.array([-1.0, -0.62, -0.27, 0.0, 0.27, 0.62, 1.0])     # 48..54
_OUTER_LOW_U = np.array([0.62, 0.3, 0.0, -0.3, -0.62])                  # 55..59
_INNER_CORNER_U = 0.9
_INNER_UP_U = np.array([-0.45, 0.0, 0.45])                               # 61..63
_INNER_LOW_U = np.array([0.45, 0.0, -0.45])                              # 65..67


def _bump(s, p=1.0):
  return np.clip(4.0 * s * (1.0 - s), 0.0, 1.0) ** p


def _eye(idn, a, side):
  """Upper / lower lid functions of one eye (side -1 = image left, +1 = image right)."""
  ew = idn.eye_width
  cx = 0.5 + side * idn.eye_half_spacing
  outer = np.array([cx + side * ew / 2, idn.eye_y - idn.eye_tilt])
  inner = np.array([cx - side * ew / 2, idn.eye_y])
  left, right = (outer, inner) if side < 0 else (inner, outer)
  uh = idn.eye_open * ew * (1.0 + 0.75 * a[AU05] - 0.3 * a[AU07] - 0.1 * a[AU06])
  lh = idn.eye_lower * ew * max(-0.25, 1.0 - 0.55 * a[AU06] - 0.8 * a[AU07])
  blink = a[AU45]

  def base(s):
    return left[None] + s[:, None] * (right - left)[None]

  def lower(s):
    p = base(s)
    p[:, 1] += lh * _bump(s, 0.85)
    return p

  def upper(s):
    p = base(s)
    p[:, 1] -= uh * _bump(s, 0.6)
    return p * (1 - blink) + lower(s) * blink

  iris_c = np.array([cx, idn.eye_y - 0.5 * idn.eye_tilt + 0.06 * ew])
  return upper, lower, iris_c, idn.iris_radius * ew, uh


def _brow(idn, a, side):
  """Brow centre line at parameter t (0 = outer end, 1 = inner end) and its thickness."""
  ew = idn.eye_width
  cx = 0.5 + side * idn.eye_half_spacing
  x_outer = cx + side * 0.68 * idn.brow_length * ew
  x_inner = cx - side * 0.55 * ew

  def centre(t):
    x = x_outer + t * (x_inner - x_outer)
    y = idn.eye_y - idn.brow_gap - idn.brow_arch * np.sin(np.pi * t ** 0.75) \
        + 0.012 * (1 - t) ** 2
    dy = (-0.042 * a[AU01] * t ** 1.6 - 0.04 * a[AU02] * (1 - t) ** 1.1
          + 0.024 * a[AU04] * (0.45 + 0.55 * t) + 0.006 * a[AU09] * t ** 2)
    dx = -side * 0.016 * a[AU04] * t ** 2
    return np.stack([x + dx, y + dy], -1)

  def thickness(t):
    return idn.brow_thickness * (0.5 + 0.6 * t) * np.minimum(1.0, 0.35 + 5.0 * t) \
        * np.minimum(1.0, 0.6 + 8.0 * (1 - t))
  return centre, thickness


def _mouth(idn, a, y_sub):
  """Lip contour functions of u in [-1, 1] (image left to right); returns a dict of callables."""
  mx, my = 0.5, y_sub + idn.mouth_gap
  mw = idn.mouth_half_width
  cdy = (-0.034 * a[AU12] - 0.007 * a[AU14] + 0.036 * a[AU15] + 0.006 * a[AU20]
         + 0.006 * a[AU26] - 0.004 * a[AU10])
  cdx = (0.02 * a[AU12] - 0.022 * a[AU14] + 0.034 * a[AU20] - 0.012 * a[AU23]
         - 0.008 * a[AU26] + 0.004 * a[AU10] - 0.004 * a[AU17])
  ul = idn.upper_lip * max(0.25, 1.0 - 0.55 * a[AU23] - 0.25 * a[AU20] - 0.2 * a[AU12]
                           - 0.25 * a[AU14] + 0.2 * a[AU26])
  ll = idn.lower_lip * max(0.25, 1.0 - 0.5 * a[AU23] - 0.25 * a[AU20] - 0.15 * a[AU12]
                           - 0.2 * a[AU14] + 0.35 * a[AU17])
  up_raise = 0.02 * a[AU10] + 0.008 * a[AU09]        # upper lip raise (outer and inner)
  gap_up = 0.006 * a[AU25] + 0.005 * a[AU26] + 0.012 * a[AU10]
  gap_low = 0.016 * a[AU25] + 0.064 * a[AU26]
  chin_push = 0.02 * a[AU17]

  def x(u):
    return mx + u * (mw + cdx)

  def line(u):  # the closed-mouth line
    return my + cdy * np.abs(u) ** 1.7

  def wl(u):  # 0 at the inner corners, 1 at the centre
    return np.sqrt(np.clip(1.0 - (u / _INNER_CORNER_U) ** 2, 0.0, 1.0))

  def wo(u):  # 0 at the outer corners
    return np.sqrt(np.clip(1.0 - u ** 2, 0.0, 1.0))

  def inner_up(u):
    return line(u) - (gap_up + 0.4 * chin_push) * wl(u) - up_raise * 0.35 * wo(u) ** 2

  def inner_low(u):
    return np.maximum(line(u) + (gap_low - chin_push) * wl(u) ** 1.2, inner_up(u))

  def outer_up(u):
    bow = 1.0 - 0.22 * np.exp(-(u / 0.13) ** 2)
    return inner_up(u) - ul * wo(u) ** 0.7 * bow - up_raise * 0.65 * wo(u) ** 1.5

  def outer_low(u):
    return inner_low(u) + ll * (1.0 - u ** 2) ** 0.65

  def pts(fy, u):
    u = np.asarray(u, dtype=np.float64)
    return np.stack([x(u), fy(u)], -1)
  return dict(x=x, line=line, inner_up=inner_up, inner_low=inner_low, outer_up=outer_up,
              outer_low=outer_low, pts=pts, mw=mw + cdx, my=my)


def face_geometry(idn, a) -> dict:
  """All canonical-frame points for (identity, a), a = AUs / 5. ``g['lm']`` is (68, 2)."""
  a = np.asarray(a, dtype=np.float64)
  g = {}
  lm = np.zeros((68, 2))

  # --- jaw / face outline: superellipse from landmark 0 (image left) round the chin to 16.
  hw, b, n = idn.face_half_width, idn.jaw_depth, idn.chin_exponent
  y0 = idn.eye_y + 0.012
  phi = np.linspace(0.0, np.pi, _JAW_N)
  c, s = np.cos(phi), np.sin(phi)
  xr = np.sign(c) * np.abs(c) ** (2.0 / n) * (1.0 - (1.0 - idn.jaw_width) * s ** 2)
  yr = np.abs(s) ** (2.0 / n)
  jaw = np.stack([0.5 - hw * xr * (1.0 - 0.05 * a[AU26] * s ** 2),
                  y0 + b * yr + 0.06 * a[AU26] * s ** 3 - 0.012 * a[AU17] * s ** 12], -1)
  lm[0:17] = jaw[::4]
  th = np.linspace(np.pi, 0.0, 40)[1:-1]
  forehead = np.stack([0.5 - hw * np.cos(th) * (1.0 - 0.05 * np.sin(th) ** 2),
                       y0 - idn.forehead_height * np.sin(th)], -1)
  g["jaw"], g["face"] = jaw, np.concatenate([jaw, forehead])
  g["y0"], g["chin_neutral"] = y0, y0 + b

  # --- brows: 17-21 (image-left brow, outer -> inner), 22-26 (inner -> outer).
  g["brow_poly"], g["brow_centre"] = [], []
  for side, idx, tl in ((-1, slice(17, 22), [0, .25, .5, .75, 1]),
                        (1, slice(22, 27), [1, .75, .5, .25, 0])):
    centre, thick = _brow(idn, a, side)
    lm[idx] = centre(np.array(tl, dtype=np.float64))
    cl = centre(_BROW_T)
    d = np.gradient(cl, axis=0)
    nrm = np.stack([-d[:, 1], d[:, 0]], -1) / np.linalg.norm(d, axis=1, keepdims=True)
    w = thick(_BROW_T)[:, None] / 2
    top, bot = cl - nrm * w, cl + nrm * w
    g["brow_poly"].append(np.concatenate([top, bot[::-1]]))
    g["brow_centre"].append(cl)

  # --- eyes: 36-41 and 42-47, each from its image-left corner, along the top, back along the
  # bottom (36 = outer corner of the image-left eye, 42 = inner corner of the image-right eye).
  g["eye_up"], g["eye_low"], g["iris_c"], g["eye_up_neutral"] = [], [], [], []
  third = np.array([1 / 3, 2 / 3])
  for side, start in ((-1, 36), (1, 42)):
    upper, lower, iris_c, iris_r, _ = _eye(idn, a, side)
    up, lo = upper(_EYE_S), lower(_EYE_S)
    lm[start] = up[0]
    lm[start + 1:start + 3] = upper(third)
    lm[start + 3] = up[-1]
    lm[start + 4:start + 6] = lower(third[::-1])
    g["eye_up"].append(up)
    g["eye_low"].append(lo)
    g["iris_c"].append(iris_c)
    g["eye_up_neutral"].append(_eye(idn, np.zeros(17), side)[0](_EYE_S))
    g["iris_r"] = iris_r

  # --- nose: bridge 27-30 down the midline, nostril base 31-35.
  ytip = idn.eye_y + idn.nose_length
  nw = idn.nose_width
  bridge_y = np.linspace(idn.eye_y - 0.006, ytip, 4)
  bridge_y[1:] -= np.array([0.0, 0.004, 0.009]) * a[AU09]
  lm[27:31] = np.stack([np.full(4, 0.5), bridge_y], -1)
  base_x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
  base_dy = np.array([0.008, 0.019, 0.023, 0.019, 0.008])
  lm[31:36, 0] = 0.5 + base_x * (nw + 0.006 * a[AU09] + 0.002 * a[AU10])
  lm[31:36, 1] = ytip + base_dy - 0.015 * a[AU09] - 0.005 * a[AU10]
  y_sub = ytip + 0.023  # neutral subnasale: the mouth hangs off the neutral nose

  # --- mouth: outer 48-59, inner 60-67.
  m = _mouth(idn, a, y_sub)
  lm[48:55] = m["pts"](m["outer_up"], _OUTER_UP_U)
  lm[55:60] = m["pts"](m["outer_low"], _OUTER_LOW_U)
  ci = _INNER_CORNER_U
  lm[60] = m["pts"](m["line"], [-ci])[0]
  lm[61:64] = m["pts"](m["inner_up"], _INNER_UP_U)
  lm[64] = m["pts"](m["line"], [ci])[0]
  lm[65:68] = m["pts"](m["inner_low"], _INNER_LOW_U)
  uo = np.union1d(_LIP_U, _OUTER_UP_U)
  g["lip_outer"] = np.concatenate([m["pts"](m["outer_up"], uo),
                                   m["pts"](m["outer_low"], uo[::-1][1:-1])])
  ui = np.union1d(np.linspace(-ci, ci, 33), _INNER_UP_U)
  g["mouth_inner"] = np.concatenate([m["pts"](m["inner_up"], ui),
                                     m["pts"](m["inner_low"], ui[::-1][1:-1])])
  g["inner_up"] = m["pts"](m["inner_up"], ui)
  g["lip_upper"] = np.concatenate([m["pts"](m["outer_up"], uo),
                                   m["pts"](m["line"], [ci]), g["inner_up"][::-1],
                                   m["pts"](m["line"], [-ci])])
  g["mouth"] = m
  g["lm"] = lm
  return g


def pose_matrix(idn, size: int, factor: float = 1.0):
  """(A, t) with pixel = canonical @ A.T + t for an image of ``size * factor`` pixels."""
  r = np.deg2rad(idn.pose_rot_deg)
  rot = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
  scale = size * factor
  mat = scale * idn.pose_scale * rot
  t = scale * (PIVOT + np.array([idn.pose_tx, idn.pose_ty])) - PIVOT @ mat.T - 0.5
  return mat, t
