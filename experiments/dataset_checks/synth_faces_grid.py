"""Contact sheet of the SynthFaces renderer.

(a) identities x the 8 emotion prototypes, plus each identity's neutral face with its 68
landmarks overlaid; (b) every Action Unit alone at intensity 0 / 2.5 / 5 on one identity.

  python experiments/dataset_checks/synth_faces_grid.py --out docs/figures/synth_faces_grid.png --size 128
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from fxs_jax import facs
from fxs_jax import viz
from fxs_jax.data import synth_faces as sf


def _text_strip(texts, widths, height, pad):
  """A white strip with ``texts`` centred in consecutive columns of ``widths``."""
  strip = Image.new("RGB", (sum(w + pad for w in widths) + pad, height), (255, 255, 255))
  draw, font, x = ImageDraw.Draw(strip), ImageFont.load_default(), pad
  for text, w in zip(texts, widths):
    tw = draw.textlength(text, font=font)
    draw.text((x + (w - tw) / 2, 1), text, fill=(0, 0, 0), font=font)
    x += w + pad
  return np.asarray(strip)


def pick_identities(seed, n):
  """The first ``n`` identities from ``seed`` on, preferring a new hair style each time (so the
  sheet shows the variety); falls back to plain seed order."""
  ids, styles, s = [], set(), seed
  while len(ids) < n and s < seed + 200:
    idn = sf.sample_identity(s)
    if idn.hair_style not in styles or s >= seed + 100:
      ids.append(idn)
      styles.add(idn.hair_style)
    s += 1
  return ids


def emotion_block(size, identities, pad):
  tiles = []
  for idn in identities:
    for emotion in facs.EMOTIONS:
      tiles.append(sf.render(idn, facs.emotion_aus(emotion), size)[0])
    img, lms = sf.render(idn, np.zeros(facs.NUM_AUS), size)
    tiles.append(viz.draw_landmarks(img, lms, radius=max(1, size // 80)))
  grid = viz.make_grid(tiles, ncols=len(facs.EMOTIONS) + 1, pad=pad)
  header = _text_strip(list(facs.EMOTIONS) + ["landmarks"], [size] * (len(facs.EMOTIONS) + 1), 14,
                       pad)
  return np.concatenate([header, grid], axis=0)


def au_block(size, identity, au_names, pad, label_w):
  rows = []
  for name in au_names:
    tiles = []
    for level in (0.0, 2.5, 5.0):
      aus = np.zeros(facs.NUM_AUS, np.float32)
      aus[facs.AU_NAMES.index(name)] = level
      tiles.append(sf.render(identity, aus, size)[0])
    row = viz.make_grid(tiles, ncols=3, pad=pad)[pad:-pad]
    label = Image.new("RGB", (label_w, row.shape[0]), (255, 255, 255))
    draw = ImageDraw.Draw(label)
    draw.text((4, row.shape[0] // 2 - 12), name, fill=(0, 0, 0), font=ImageFont.load_default())
    draw.text((4, row.shape[0] // 2 + 2), facs.AU_DESCRIPTIONS[name], fill=(60, 60, 60),
              font=ImageFont.load_default())
    rows.append(np.concatenate([np.asarray(label), row], axis=1))
  body = np.concatenate([np.concatenate([r, np.full((pad,) + r.shape[1:], 255, np.uint8)])
                         for r in rows], axis=0)
  header = _text_strip(["", "AU = 0", "2.5", "5"], [label_w - pad, size, size, size], 14, pad)
  header = np.pad(header, ((0, 0), (0, body.shape[1] - header.shape[1]), (0, 0)),
                  constant_values=255)
  return np.concatenate([header, body], axis=0)


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--out", default="docs/figures/synth_faces_grid.png")
  ap.add_argument("--size", type=int, default=128)
  ap.add_argument("--identities", type=int, default=6)
  ap.add_argument("--seed", type=int, default=0)
  args = ap.parse_args(argv)
  pad, size = 2, args.size
  ids = pick_identities(args.seed, args.identities)
  top = emotion_block(size, ids, pad)
  au_identity = next((i for i in ids if np.mean(i.skin_rgb) > 150), ids[0])
  half = (facs.NUM_AUS + 1) // 2
  label_w = 130
  blocks = [au_block(size, au_identity, facs.AU_NAMES[:half], pad, label_w),
            au_block(size, au_identity, facs.AU_NAMES[half:], pad, label_w)]
  h = max(b.shape[0] for b in blocks)
  blocks = [np.pad(b, ((0, h - b.shape[0]), (0, 0), (0, 0)), constant_values=255) for b in blocks]
  gap = np.full((h, 4 * pad, 3), 255, np.uint8)
  bottom = np.concatenate([blocks[0], gap, blocks[1]], axis=1)
  width = max(top.shape[1], bottom.shape[1])
  top, bottom = (np.pad(x, ((0, 0), (0, width - x.shape[1]), (0, 0)), constant_values=255)
                 for x in (top, bottom))
  sep = np.full((6 * pad, width, 3), 255, np.uint8)
  sheet = np.concatenate([top, sep, bottom], axis=0)
  viz.save_png(args.out, sheet)
  print(f"wrote {args.out} {sheet.shape[1]}x{sheet.shape[0]}")


if __name__ == "__main__":
  main()
