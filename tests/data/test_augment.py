"""Flip augmentation and image scaling, checked against geometry, not against the code."""

import numpy as np
from scipy import ndimage

from fxs_jax import facs
from fxs_jax.data import augment
from fxs_jax.data import synth_faces


def _face(seed=3, size=64):
  identity = synth_faces.sample_identity(seed)
  aus = facs.emotion_aus("happy")
  return synth_faces.render(identity, aus, size)


def test_permutation_is_an_involution_pairing_left_and_right():
  perm = augment.IBUG_FLIP_PERMUTATION
  np.testing.assert_array_equal(perm[perm], np.arange(68))
  # Points on the facial midline map to themselves (nose bridge, nose tip, lip centres, chin).
  for i in (8, 27, 28, 29, 30, 33, 51, 57, 62, 66):
    assert perm[i] == i
  assert (perm[0], perm[17], perm[36], perm[39], perm[48], perm[60]) == (16, 26, 45, 42, 54, 64)


def test_flipped_landmarks_keep_the_ibug_left_right_order():
  img, lms = _face()
  flipped = augment.flip_landmarks(lms, img.shape[1])
  for lm in (lms, flipped):
    x = lm[:, 0]
    assert x[0] < x[8] < x[16]  # jaw runs from image-left to image-right
    assert x[17] < x[21] < x[22] < x[26]  # brows
    assert x[36] < x[39] < x[42] < x[45]  # eye corners: outer-left, inner-left, inner-right, outer-right
    assert x[48] < x[51] < x[54] and x[31] < x[35]


def test_flipped_image_at_flipped_landmarks_equals_original_at_original():
  img, lms = _face()
  ex = augment.flip_example({"image": img, "landmarks": lms, "aus": np.ones(17, np.float32)})
  np.testing.assert_array_equal(ex["image"], img[:, ::-1])
  np.testing.assert_array_equal(ex["aus"], np.ones(17))  # AUs are bilateral
  perm = augment.IBUG_FLIP_PERMUTATION
  for c in range(3):
    # Bilinear samples (order=1) at sub-pixel landmark positions; (row, col) = (y, x).
    orig = ndimage.map_coordinates(img[..., c].astype(float), [lms[:, 1], lms[:, 0]], order=1)
    new = ndimage.map_coordinates(ex["image"][..., c].astype(float),
                                  [ex["landmarks"][:, 1], ex["landmarks"][:, 0]], order=1)
    # Point i of the flipped face is the mirror of point perm[i] of the original.
    np.testing.assert_allclose(new, orig[perm], atol=1e-3)  # float32 landmark rounding


def test_flip_works_on_sequences():
  img, lms = _face()
  frames, lms_t = np.stack([img, img]), np.stack([lms, lms])
  ex = augment.flip_example({"frames": frames, "landmarks": lms_t})
  np.testing.assert_array_equal(ex["frames"][1], img[:, ::-1])
  np.testing.assert_array_equal(ex["landmarks"][1], augment.flip_landmarks(lms, 64))


def test_signed_unit_scaling():
  x = np.array([0, 255, 128], np.uint8)
  np.testing.assert_allclose(augment.to_signed_unit(x), [-1.0, 1.0, 128 / 127.5 - 1], atol=1e-7)
  np.testing.assert_array_equal(augment.to_uint8(augment.to_signed_unit(np.arange(256))),
                                np.arange(256))


def test_paired_example_flips_every_declared_image_and_landmark_set_together():
  """A cGAN-style example (source face, target face, truth) mirrors as one: each image at its
  own mirrored landmarks equals the original at the original's, labels are untouched."""
  (src, src_lms), (tgt, tgt_lms) = _face(3), _face(4)
  fields = augment.Fields(images=("source", "target", "truth"),
                          landmarks=("source_landmarks", "target_landmarks"))
  example = {"source": src, "target": tgt, "truth": tgt, "source_landmarks": src_lms,
             "target_landmarks": tgt_lms, "emotion": np.int64(1), "aus": np.arange(17.0)}
  out = augment.flip_example(example, fields)
  for key in ("source", "target", "truth"):
    np.testing.assert_array_equal(out[key], example[key][:, ::-1])
  perm = augment.IBUG_FLIP_PERMUTATION
  for key in ("source_landmarks", "target_landmarks"):
    mirrored = example[key][perm].copy()
    mirrored[:, 0] = 63 - mirrored[:, 0]  # x -> (width - 1) - x
    np.testing.assert_allclose(out[key], mirrored)
  assert out["emotion"] == 1
  np.testing.assert_array_equal(out["aus"], np.arange(17.0))
  # The stills preprocessing applies the same single decision, then scales every image.
  scaled = augment.preprocess(example, fields, flip=True)
  np.testing.assert_allclose(scaled["truth"], augment.to_signed_unit(tgt[:, ::-1]))
  np.testing.assert_allclose(scaled["source_landmarks"], out["source_landmarks"])


def test_images_of_different_widths_cannot_share_a_mirror():
  import pytest  # pylint: disable=import-outside-toplevel
  with pytest.raises(ValueError, match="differ in width"):
    augment.flip_example({"image": np.zeros((4, 4, 3)), "frames": np.zeros((2, 4, 6, 3))})
