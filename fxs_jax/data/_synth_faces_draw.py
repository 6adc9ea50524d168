"""SynthFaces rasteriser: draws the geometry of ``_synth_faces_geometry`` with PIL, supersampled.

Every shape is built in canonical units, mapped through the identity's pose transform and drawn
at ``factor`` x the output resolution, then box-downsampled (anti-aliasing).
"""

from __future__ import annotations

import contextlib

import numpy as np
from PIL import Image, ImageDraw

from fxs_jax.data._synth_faces_geometry import (
    AU01, AU02, AU04, AU05, AU06, AU09, AU10, AU12, AU14, AU17, pose_matrix)


def _c(rgb, f=1.0, alpha=1.0):
  """RGBA int tuple from float rgb scaled by ``f``."""
  return tuple(int(round(min(255.0, max(0.0, v * f)))) for v in rgb) + (
      int(round(255 * min(1.0, max(0.0, alpha)))),)


def _mix(c1, c2, t):
  return tuple(float(x) * (1 - t) + float(y) * t for x, y in zip(c1, c2))


def _ellipse(cx, cy, rx, ry, n=28, rot=0.0):
  t = np.linspace(0, 2 * np.pi, n, endpoint=False)
  x, y = rx * np.cos(t), ry * np.sin(t)
  cr, sr = np.cos(rot), np.sin(rot)
  return np.stack([cx + cr * x - sr * y, cy + sr * x + cr * y], -1)


def _quad(p0, p1, p2, n=10):
  """Quadratic Bezier from p0 to p2 with control p1."""
  t = np.linspace(0, 1, n)[:, None]
  p0, p1, p2 = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2))
  return (1 - t) ** 2 * p0 + 2 * t * (1 - t) * p1 + t ** 2 * p2


class _Painter:
  def __init__(self, img, mat, t, unit):
    self.img, self.mat, self.t, self.unit = img, mat, t, unit
    self.off = np.zeros(2)
    self.draw = ImageDraw.Draw(img, "RGBA")

  def _xy(self, pts):
    p = np.asarray(pts, dtype=np.float64) @ self.mat.T + self.t - self.off
    return [tuple(q) for q in p.tolist()]

  def poly(self, pts, rgba):
    if rgba[3] > 0:
      self.draw.polygon(self._xy(pts), fill=rgba)

  def line(self, pts, rgba, width):
    if rgba[3] > 0:
      w = max(1, int(round(width * self.unit)))
      self.draw.line(self._xy(pts), fill=rgba, width=w, joint="curve")

  def crease(self, pts, dark, alpha, width, offset):
    """A skin fold: a dark line with a light line beside it (reads on any skin tone)."""
    if alpha > 0:
      self.line(np.asarray(pts) + np.asarray(offset), _c((255, 250, 240), 1.0, 0.3 * alpha),
                width * 0.9)
      self.line(pts, _c(dark, 1.0, alpha), width)

  @contextlib.contextmanager
  def clip(self, pts):
    """Everything drawn inside the block only lands inside polygon ``pts``."""
    xy = np.asarray(pts, dtype=np.float64) @ self.mat.T + self.t
    w, h = self.img.size
    x0, y0 = np.floor(xy.min(0)).astype(int) - 2
    x1, y1 = np.ceil(xy.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
      yield False
      return
    parent, parent_draw = self.img, self.draw
    sub = parent.crop((x0, y0, x1, y1))
    self.img, self.draw, self.off = sub, ImageDraw.Draw(sub, "RGBA"), np.array([x0, y0], float)
    try:
      yield True
    finally:
      mask = Image.new("L", sub.size, 0)
      ImageDraw.Draw(mask).polygon([tuple(q) for q in (xy - self.off).tolist()], fill=255)
      self.img, self.draw, self.off = parent, parent_draw, np.zeros(2)
      parent.paste(sub, (x0, y0), mask)


def _background(idn, n):
  top, bot = np.array(idn.bg_top_rgb), np.array(idn.bg_bottom_rgb)
  ramp = np.linspace(0.0, 1.0, n)[:, None]
  col = np.round(top * (1 - ramp) + bot * ramp).astype(np.uint8)
  return Image.fromarray(np.ascontiguousarray(np.broadcast_to(col[:, None, :], (n, n, 3))))


def _head_arc(idn, g, grow_x, grow_y, th0, th1, n=40, cy_shift=0.0):
  th = np.linspace(th0, th1, n)
  hw = idn.face_half_width + grow_x
  return np.stack([0.5 - hw * np.cos(th), g["y0"] + cy_shift - (idn.forehead_height + grow_y)
                   * np.sin(th)], -1)


def _hair_back(p, idn, g):
  hc = idn.hair_rgb
  v = idn.hair_volume
  hw, y0, chin = idn.face_half_width, g["y0"], g["chin_neutral"]
  if idn.hair_style == "long":
    top = _head_arc(idn, g, 0.045 + 0.03 * v, 0.05 + 0.02 * v, 0.0, np.pi)
    bottom = 1.08
    w = hw + 0.07 + 0.04 * v
    pts = np.concatenate([[[0.5 - w, bottom]], top, [[0.5 + w, bottom]]])
    p.poly(pts, _c(hc, 0.8))
  elif idn.hair_style == "bob":
    top = _head_arc(idn, g, 0.045 + 0.025 * v, 0.05 + 0.02 * v, 0.0, np.pi)
    w = hw + 0.05 + 0.025 * v
    yb = chin - 0.06
    pts = np.concatenate([[[0.5 - w, yb], [0.5 - w * 0.7, yb + 0.02]], [[0.5 + w * 0.7,
                          yb + 0.02], [0.5 + w, yb]], top[::-1]])
    p.poly(pts, _c(hc, 0.8))
  elif idn.hair_style == "afro":
    r = hw + 0.09 + 0.04 * v
    p.poly(_ellipse(0.5, y0 - 0.5 * idn.forehead_height, r, r * 0.95 + 0.02, 48), _c(hc, 0.95))
  elif idn.hair_style == "bun":
    top_y = y0 - idn.forehead_height
    p.poly(_ellipse(0.5, top_y - 0.03, 0.055 + 0.015 * v, 0.045 + 0.01 * v), _c(hc))
    p.line(_quad((0.47, top_y - 0.05), (0.5, top_y - 0.06), (0.53, top_y - 0.03)),
           _c(hc, 0.7, 0.6), 0.004)


def _hair_front(p, idn, g):
  style, hc, v = idn.hair_style, idn.hair_rgb, idn.hair_volume
  if style == "bald":
    # a soft scalp highlight
    y0 = g["y0"]
    p.poly(_ellipse(0.47, y0 - idn.forehead_height * 0.78, 0.07, 0.03, rot=-0.3),
           _c((255, 255, 255), 1.0, 0.12))
    return
  hw, y0, fh = idn.face_half_width, g["y0"], idn.forehead_height
  brow_top = idn.eye_y - idn.brow_gap - idn.brow_arch - 0.025
  params = {  # (grow_x, grow_y, hairline centre y, side y, hairline exponent, colour factor)
      "short": (0.02 + 0.015 * v, 0.035 + 0.03 * v, y0 - fh * 0.6, y0 - 0.02, 2.5, 1.0),
      "buzz": (0.005, 0.008, y0 - fh * 0.66, y0 - 0.03, 2.5, 1.0),
      "long": (0.045 + 0.03 * v, 0.05 + 0.02 * v, y0 - fh * 0.58, y0 + 0.05, 2.0, 1.0),
      "bob": (0.045 + 0.025 * v, 0.05 + 0.02 * v, brow_top - 0.04, y0 + 0.02, 6.0, 1.0),
      "bun": (0.008, 0.012, y0 - fh * 0.62, y0 - 0.03, 2.5, 1.0),
      "afro": (0.03, 0.04, y0 - fh * 0.6, y0 - 0.03, 2.5, 1.0),
  }[style]
  gx, gy, y_hl, y_side, ex, f = params
  colour = _mix(hc, idn.skin_rgb, 0.45) if style == "buzz" else hc
  # Angles where the outer arc reaches the side level.
  sin0 = np.clip((g["y0"] - y_side) / (fh + gy), -1.0, 1.0)
  th0 = np.arcsin(sin0) if y_side <= y0 else -np.arcsin(min(1.0, (y_side - y0) / (fh + gy)))
  outer = _head_arc(idn, g, gx, gy, th0, np.pi - th0)
  sx = np.linspace(1.0, -1.0, 31)
  xs = hw * 0.99
  hairline = np.stack([0.5 + sx * xs, y_hl + (y_side - y_hl) * np.abs(sx) ** ex], -1)
  if style == "long":  # centre parting
    hairline[:, 1] -= 0.025 * np.exp(-(sx / 0.12) ** 2)
  p.poly(np.concatenate([outer, hairline]), _c(colour, f))
  if style in ("short", "long", "bob", "afro"):  # a few strands for texture
    for k in range(-2, 3):
      xk = 0.5 + 0.06 * k
      p.line(_quad((xk, y0 - fh - gy * 0.6), (xk + 0.03 * np.sign(k + 0.5), y_hl - 0.03),
                   (xk + 0.035 * np.sign(k + 0.5), y_hl + 0.005)), _c(hc, 0.72, 0.5), 0.003)


def draw_face(idn, g, a, size: int, factor: int) -> Image.Image:
  n = size * factor
  img = _background(idn, n)
  mat, t = pose_matrix(idn, size, factor)
  p = _Painter(img, mat, t, unit=n * idn.pose_scale)
  skin, lip = idn.skin_rgb, idn.lip_rgb
  lm = g["lm"]
  hw, y0, chin = idn.face_half_width, g["y0"], g["chin_neutral"]
  dark = _mix(tuple(0.55 * v for v in skin), (40, 20, 20), 0.2)

  # --- behind the face: hair mass, neck, shirt, ears
  _hair_back(p, idn, g)
  nwid = 0.5 * hw * (0.7 + 0.3 * idn.jaw_width)
  nb = chin + 0.06
  neck = np.array([[0.5 - nwid, y0 + 0.2], [0.5 + nwid, y0 + 0.2], [0.5 + nwid * 1.05, 1.1],
                   [0.5 - nwid * 1.05, 1.1]])
  p.poly(neck, _c(skin, 0.86))
  with p.clip(neck):
    p.poly(_ellipse(0.5, chin + 0.01, hw * 0.7, 0.045), _c(skin, 0.68, 0.7))
  sh = 0.24
  shirt = np.concatenate([[[-0.1, 1.1], [-0.1, nb + 0.1], [0.5 - nwid - sh, nb + 0.05]],
                          _quad((0.5 - nwid - 0.02, nb), (0.5, nb + 0.1), (0.5 + nwid + 0.02, nb)),
                          [[0.5 + nwid + sh, nb + 0.05], [1.1, nb + 0.1], [1.1, 1.1]]])
  p.poly(shirt, _c(idn.shirt_rgb))
  p.line(_quad((0.5 - nwid - 0.02, nb), (0.5, nb + 0.1), (0.5 + nwid + 0.02, nb)),
         _c(idn.shirt_rgb, 0.7), 0.008)
  if idn.hair_style not in ("long", "bob", "afro"):
    for side in (-1, 1):
      ex = 0.5 + side * (hw + 0.012)
      ey = idn.eye_y + 0.04
      es = idn.ear_size
      p.poly(_ellipse(ex, ey, 0.032 * es, 0.07 * es, rot=side * 0.15), _c(skin, 0.92))
      p.line(_quad((ex + side * 0.012 * es, ey - 0.045 * es), (ex + side * 0.03 * es, ey),
                   (ex + side * 0.008 * es, ey + 0.04 * es)), _c(dark, 1.0, 0.45), 0.006)

  # --- face: darker rim then the lit skin
  face = g["face"]
  p.poly(face, _c(skin, 0.9))
  cen = np.array([0.5, y0 + 0.02])
  p.poly(cen + (face - cen) * np.array([0.955, 0.975]), _c(skin))
  p.poly(cen + (face - cen) * np.array([0.85, 0.92]), _c(skin, 1.025, 0.6))

  # cheeks: identity blush + AU06 cheek raise (bulge highlight & blush moving up)
  a6 = a[AU06]
  for side, eye in ((-1, 0), (1, 1)):
    c = g["iris_c"][eye]
    cy = c[1] + 0.085 - 0.02 * a6
    cx = c[0] + side * 0.015
    for r, al in ((1.0, 0.05), (0.75, 0.05), (0.5, 0.05)):
      p.poly(_ellipse(cx, cy, 0.055 * r, 0.035 * r), _c((220, 90, 100), 1.0,
                                                        al * (0.3 + idn.blush + 1.6 * a6)))
    p.poly(_ellipse(cx - side * 0.01, cy - 0.012, 0.03, 0.014), _c((255, 255, 255), 1.0,
                                                                  0.12 * a6))

  # forehead wrinkles: AU01 central, AU02 lateral
  by = min(lm[17:27, 1].min(), idn.eye_y - idn.brow_gap - idn.brow_arch)
  for k in range(3):
    yk = by - 0.03 - 0.022 * k
    p.crease(_quad((0.43, yk + 0.004), (0.5, yk - 0.006), (0.57, yk + 0.004)), dark,
             0.6 * a[AU01], 0.004, (0, 0.004))
    for side in (-1, 1):
      p.crease(_quad((0.5 + side * 0.09, yk - 0.002), (0.5 + side * 0.14, yk - 0.012),
                     (0.5 + side * 0.19, yk)), dark, 0.6 * a[AU02], 0.004, (0, 0.004))

  _hair_front(p, idn, g)

  # --- brows
  bc = idn.brow_rgb
  for poly in g["brow_poly"]:
    p.poly(poly, _c(bc))
  for side in (-1, 1):  # AU04 glabella furrows
    x = 0.5 + side * 0.011
    yb = 0.5 * (lm[21, 1] + lm[22, 1])
    p.crease(_quad((x, yb - 0.012), (x + side * 0.004, yb + 0.008), (x + side * 0.002,
                                                                      yb + 0.03)),
             dark, 0.8 * a[AU04], 0.0045, (side * 0.0045, 0))

  # --- eyes
  ir = g["iris_r"]
  for eye, side in ((0, -1), (1, 1)):
    up, lo = g["eye_up"][eye], g["eye_low"][eye]
    crease = g["eye_up_neutral"][eye].copy()
    crease[:, 1] -= 0.012 + 0.006 * a[AU05]
    p.line(crease[3:-2], _c(dark, 1.0, 0.35), 0.004)
    poly = np.concatenate([up, lo[::-1][1:-1]])
    p.poly(poly, _c((246, 244, 240)))
    with p.clip(poly) as ok:
      if ok:
        c = g["iris_c"][eye]
        p.poly(_ellipse(c[0], c[1], ir, ir, 32), _c(idn.iris_rgb))
        p.poly(_ellipse(c[0], c[1], ir * 0.82, ir * 0.82, 32), _c(idn.iris_rgb, 1.12))
        p.poly(_ellipse(c[0], c[1], ir * 0.45, ir * 0.45, 24), _c((12, 10, 10)))
        p.poly(_ellipse(c[0] + 0.35 * ir, c[1] - 0.35 * ir, ir * 0.2, ir * 0.2, 12),
               _c((255, 255, 255), 1.0, 0.9))
        p.line(up, _c((60, 40, 40), 1.0, 0.25), 0.007)  # lid shadow on the eyeball
    p.line(up, _c((28, 20, 20)), 0.0055)              # lash line
    outer = up[0] if side < 0 else up[-1]
    p.line([outer, outer + np.array([side * 0.008, -0.004])], _c((28, 20, 20)), 0.004)
    p.line(lo, _c(dark, 0.9, 0.5), 0.003)
    # AU06: crow's feet and lower-lid furrow
    for ang in (-0.45, 0.0, 0.45):
      d = np.array([np.cos(ang) * side, np.sin(ang)])
      s0 = outer + d * 0.012
      p.crease([s0, s0 + d * 0.018], dark, 0.7 * a6, 0.0035, (0, 0.0035))
    fur = lo[4:-3].copy()
    fur[:, 1] += 0.014 + 0.004 * (1 - a6)
    p.crease(fur, dark, 0.6 * a6 + 0.08, 0.0035, (0, 0.0035))

  # --- nose
  nc = _mix(skin, (60, 30, 25), 0.45)
  tip = lm[30]
  for side, al_i, nos_i in ((-1, 31, 32), (1, 35, 34)):
    al = lm[al_i]
    p.poly(_ellipse(lm[nos_i, 0] + side * 0.002, lm[nos_i, 1] - 0.006, 0.0095, 0.005,
                    rot=-side * 0.25), _c(nc, 0.7, 0.85))
    p.line(_quad(al, al + np.array([side * 0.012, -0.016]), al + np.array([-side * 0.004,
                                                                           -0.03])),
           _c(nc, 1.0, 0.55), 0.0045)
  p.line(_quad(lm[32], lm[33] + np.array([0, 0.004]), lm[34]), _c(nc, 1.0, 0.35), 0.004)
  p.line(_quad(lm[27] + np.array([-0.016, 0.02]), lm[28] + np.array([-0.02, 0.03]),
               tip + np.array([-0.016, -0.02])), _c(nc, 1.0, 0.18), 0.005)
  p.poly(_ellipse(tip[0] + 0.004, tip[1] - 0.006, 0.01, 0.006), _c((255, 255, 255), 1.0, 0.18))
  for k in range(3):  # AU09 wrinkles across the bridge
    yk = lm[28, 1] - 0.012 + 0.011 * k
    p.crease(_quad((0.472, yk + 0.003), (0.5, yk - 0.005), (0.528, yk + 0.003)), dark,
             0.8 * a[AU09], 0.004, (0, 0.004))

  # --- folds: nasolabial (AU12/10/09), dimples (AU14), chin (AU17)
  fold_a = 0.1 + 0.55 * a[AU12] + 0.35 * a[AU10] + 0.4 * a[AU09]
  for side, al_i, corner_i in ((-1, 31, 48), (1, 35, 54)):
    s0 = lm[al_i] + np.array([side * 0.014, -0.012])
    e0 = lm[corner_i] + np.array([side * 0.018, 0.022])
    ctrl = np.array([s0[0] + side * 0.03, 0.5 * (s0[1] + e0[1]) - 0.005])
    p.crease(_quad(s0, ctrl, e0), dark, fold_a, 0.005, (side * 0.005, 0))
    cc = lm[corner_i]
    p.line(_quad(cc + np.array([side * 0.012, -0.012]), cc + np.array([side * 0.02, 0.0]),
                 cc + np.array([side * 0.012, 0.012])), _c(dark, 1.0, 0.0), 0.0045)
    p.crease(_quad(cc + np.array([side * 0.012, -0.012]), cc + np.array([side * 0.02, 0.0]),
                   cc + np.array([side * 0.012, 0.012])), dark, 0.85 * a[AU14], 0.0045,
             (side * 0.0045, 0))
  lip_bot = lm[57]
  p.line(_quad(lip_bot + np.array([-0.03, 0.018]), lip_bot + np.array([0, 0.01]),
               lip_bot + np.array([0.03, 0.018])), _c(dark, 1.0, 0.0), 0.004)
  p.crease(_quad(lip_bot + np.array([-0.03, 0.018]), lip_bot + np.array([0, 0.01]),
                 lip_bot + np.array([0.03, 0.018])), dark, 0.12 + 0.6 * a[AU17], 0.004,
           (0, 0.004))
  cy = 0.5 * (lip_bot[1] + lm[8, 1]) + 0.01
  for dx, dy in ((-0.02, 0), (0, -0.006), (0.02, 0), (-0.011, 0.014), (0.011, 0.014), (0, 0.02)):
    p.poly(_ellipse(0.5 + dx, cy + dy + 0.003, 0.0055, 0.0035, 10),
           _c((255, 250, 240), 1.0, 0.2 * a[AU17]))
    p.poly(_ellipse(0.5 + dx, cy + dy, 0.0055, 0.0035, 10), _c(dark, 1.0, 0.55 * a[AU17]))

  # --- mouth
  p.poly(g["lip_outer"], _c(lip))
  p.poly(g["lip_upper"], _c(lip, 0.9))  # the upper lip sits in shade
  inner = g["mouth_inner"]
  m = g["mouth"]
  opening = np.max(lm[66, 1] - lm[62, 1])
  if opening > 1e-4:
    p.poly(inner, _c((72, 22, 28)))
    with p.clip(inner) as ok:
      if ok:
        u = np.linspace(-0.82, 0.82, 21)
        tt = m["pts"](m["inner_up"], u)
        p.poly(np.concatenate([tt - [0, 0.01], (tt + [0, 0.016])[::-1]]), _c((242, 238, 228)))
        lt = m["pts"](m["inner_low"], u * 0.75)
        p.poly(np.concatenate([lt + [0, 0.01], (lt - [0, 0.008])[::-1]]), _c((225, 220, 210)))
        mid = 0.5 * (lm[62] + lm[66])
        depth = lm[66, 1] - lm[62, 1]
        p.poly(_ellipse(mid[0], lm[66, 1] - 0.004, m["mw"] * 0.42, 0.006 + 0.18 * depth),
               _c((176, 74, 84)))
  p.line(np.concatenate([g["lip_outer"], g["lip_outer"][:1]]), _c(lip, 0.6, 0.7), 0.004)
  p.line(g["inner_up"], _c(lip, 0.5), 0.0045)
  # lower-lip highlight
  p.poly(_ellipse(lm[57, 0], 0.5 * (lm[57, 1] + lm[66, 1]) + 0.002, m["mw"] * 0.3,
                  0.2 * max(lm[57, 1] - lm[66, 1], 0.002)), _c((255, 255, 255), 1.0, 0.18))
  for side, ci in ((-1, 48), (1, 54)):  # corner shadows
    p.poly(_ellipse(lm[ci, 0] - side * 0.002, lm[ci, 1], 0.004, 0.003, 10), _c(lip, 0.5, 0.6))
  return img
