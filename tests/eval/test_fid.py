"""FID / IS numerics against literal formulas, and the fid_and_is plumbing (no network here:
the Inception forward is tested in test_inception.py)."""

import numpy as np
import pytest
from scipy import linalg

from fxs_jax.errors import UserError
from fxs_jax.eval import fid


def _random_spd(rng, dim):
  a = rng.normal(size=(dim, dim))
  return a @ a.T + 0.1 * np.eye(dim)


def _literal_fid(mu1, s1, mu2, s2):
  return float((mu1 - mu2) @ (mu1 - mu2)
               + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real))


def _symmetric_fid(mu1, s1, mu2, s2):
  """Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) with eigendecompositions only (no general sqrtm)."""
  def psd_sqrt(m):
    w, v = np.linalg.eigh(m)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T
  root1 = psd_sqrt(s1)
  return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1 + s2 - 2 * psd_sqrt(root1 @ s2 @ root1)))


@pytest.mark.parametrize("dim", [1, 3, 16])
def test_frechet_distance_matches_literal_formulas(dim):
  rng = np.random.default_rng(dim)
  mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
  s1, s2 = _random_spd(rng, dim), _random_spd(rng, dim)
  got = fid.frechet_distance(mu1, s1, mu2, s2)
  assert got == pytest.approx(_literal_fid(mu1, s1, mu2, s2), rel=1e-9, abs=1e-9)
  assert got == pytest.approx(_symmetric_fid(mu1, s1, mu2, s2), rel=1e-7, abs=1e-7)


def test_frechet_distance_of_diagonal_gaussians_is_closed_form():
  a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
  mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
  want = 5.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # = 5 + 4 + 1
  assert fid.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(want)


def test_fid_of_a_set_with_itself_is_zero():
  features = np.random.default_rng(0).normal(size=(300, 32)) * 3 + 1
  mu, sigma = fid.activation_statistics(features)
  np.testing.assert_allclose(mu, features.mean(0))
  centred = features - features.mean(0)
  np.testing.assert_allclose(sigma, centred.T @ centred / (len(features) - 1))
  assert abs(fid.frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_singular_product_gets_the_eps_offset(monkeypatch):
  rng = np.random.default_rng(1)
  s1, s2 = _random_spd(rng, 4), _random_spd(rng, 4)
  real_sqrtm, calls = fid._sqrtm, []

  def sqrtm_failing_once(m):
    calls.append(m)
    return np.full_like(m, np.inf) if len(calls) == 1 else real_sqrtm(m)
  monkeypatch.setattr(fid, "_sqrtm", sqrtm_failing_once)
  got = fid.frechet_distance(np.zeros(4), s1, np.zeros(4), s2, eps=1e-2)
  np.testing.assert_allclose(calls[1], (s1 + 1e-2 * np.eye(4)) @ (s2 + 1e-2 * np.eye(4)))
  offset = 1e-2 * np.eye(4)
  assert got == pytest.approx(np.trace(s1 + s2 - 2 * linalg.sqrtm((s1 + offset) @ (s2 + offset))
                                       .real))


def test_imaginary_part_is_dropped_if_negligible_else_raises(monkeypatch):
  s = np.eye(2)
  monkeypatch.setattr(fid, "_sqrtm", lambda m: np.eye(2) + 1e-9j)
  assert fid.frechet_distance(np.zeros(2), s, np.zeros(2), s) == pytest.approx(0.0)
  monkeypatch.setattr(fid, "_sqrtm", lambda m: np.eye(2) + 0.5j)
  with pytest.raises(ValueError, match="imaginary"):
    fid.frechet_distance(np.zeros(2), s, np.zeros(2), s)
  with pytest.raises(ValueError, match="mismatched"):
    fid.frechet_distance(np.zeros(2), s, np.zeros(3), np.eye(3))


def _literal_inception_score(probs, splits):
  """improved-gan's loop: part * (log part - log mean(part)), summed, averaged, exp."""
  scores = []
  for k in range(splits):
    part = probs[k * len(probs) // splits:(k + 1) * len(probs) // splits]
    kl = part * (np.log(part) - np.log(part.mean(0, keepdims=True)))
    scores.append(np.exp(kl.sum(1).mean()))
  return np.mean(scores), np.std(scores)


def test_inception_score_of_uniform_predictions_is_one():
  assert fid.inception_score(np.full((40, 1008), 1 / 1008)) == pytest.approx((1.0, 0.0))
  assert fid.inception_score(np.zeros((40, 1008))) == pytest.approx((1.0, 0.0))  # logits


@pytest.mark.parametrize("classes", [1, 7, 1008])
def test_inception_score_of_confident_balanced_predictions_is_the_class_count(classes):
  splits = 4
  labels = np.arange(2 * classes * splits) % classes  # every split uses every class twice
  probs = np.eye(1008)[labels]
  mean, std = fid.inception_score(probs, splits)
  assert mean == pytest.approx(classes) and std == pytest.approx(0.0, abs=1e-9)
  mean, _ = fid.inception_score(60.0 * probs, splits)  # confident logits, softmax over 1008
  assert mean == pytest.approx(classes, rel=1e-6)


def test_inception_score_matches_literal_loop():
  logits = np.random.default_rng(2).normal(size=(50, 12)) * 2
  probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  want = _literal_inception_score(probs, 5)
  np.testing.assert_allclose(fid.inception_score(probs, 5), want, rtol=1e-9)
  np.testing.assert_allclose(fid.inception_score(logits, 5, from_logits=True), want, rtol=1e-9)
  with pytest.raises(ValueError, match="splits"):
    fid.inception_score(probs, 51)


def test_fid_and_is_without_weights_is_skipped_not_failed():
  images = np.zeros((2, 8, 8, 3))
  for missing in (None, ""):
    result = fid.fid_and_is(images, images, missing)
    assert set(result) == {"skipped"}
    assert "--config.eval.inception_weights=" in result["skipped"]
  with pytest.raises(UserError, match="not found"):
    fid.fid_and_is(images, images, "/nonexistent/pt_inception.pth")


def _fake_apply(calls):
  def apply(images_BxHxWx3):
    calls.append(images_BxHxWx3.shape)
    pool = np.concatenate([images_BxHxWx3.mean(axis=(1, 2)), images_BxHxWx3[:, 0, 0]], axis=1)
    return pool, np.concatenate([pool, -pool], axis=1)
  return apply


def test_inception_outputs_batches_in_order_with_padding():
  rng = np.random.default_rng(3)
  batches = [rng.uniform(-1, 1, (n, 4, 4, 3)).astype(np.float32) for n in (3, 5, 1)]
  calls = []
  pool, logits = fid.inception_outputs(_fake_apply(calls), iter(batches), batch_size=4)
  assert calls == [(4, 4, 4, 3)] * 3  # 9 images: 4 + 4 + (1 padded to 4)
  images01 = (np.concatenate(batches) + 1) / 2
  np.testing.assert_allclose(pool[:, :3], images01.mean(axis=(1, 2)), rtol=1e-6)
  assert logits.shape == (9, 12)
  uint8 = np.full((2, 4, 4, 3), 255, np.uint8)
  pool, _ = fid.inception_outputs(_fake_apply([]), uint8, batch_size=4)
  np.testing.assert_allclose(pool, 1.0)


def test_fid_and_is_plumbing(monkeypatch, tmp_path):
  weights = tmp_path / "w.npz"
  weights.write_bytes(b"stand-in")
  calls = []
  monkeypatch.setattr(fid, "_inception_apply", lambda path, mtime: _fake_apply(calls))
  monkeypatch.setattr(fid, "_last_real", {})
  rng = np.random.default_rng(4)
  real = rng.uniform(-1, 1, (20, 4, 4, 3))
  same = fid.fid_and_is([real[:7], real[7:]], real, str(weights), batch_size=8)
  assert set(same) == {"fid", "inception_score", "inception_score_std"}
  assert abs(same["fid"]) < 1e-6
  assert len(calls) == 6  # 20 generated + 20 real images in batches of 8
  other = fid.fid_and_is(real * 0.5, real, str(weights), batch_size=8)
  assert other["fid"] > 0.01 and other["inception_score"] >= 1.0
  assert len(calls) == 9  # the real statistics were reused


def test_classifier_fd_and_is_on_hand_made_features_and_logits():
  """Identical sets are at distance 0 (up to sqrtm noise); a shifted copy is at |shift|^2 (equal
  covariances); confident logits spread evenly over K classes score K, uniform ones 1."""
  rng = np.random.default_rng(0)
  real = rng.normal(size=(64, 3))
  features = lambda x: np.asarray(x)
  k = 4
  confident = lambda x: 50.0 * np.eye(k)[np.arange(len(x)) % k]
  out = fid.classifier_fd_and_is(features, confident, real, real)
  assert abs(out["fd_classifier"]) < 1e-6
  np.testing.assert_allclose(out["is_classifier"], k, rtol=1e-6)
  shifted = fid.classifier_fd_and_is(features, lambda x: np.zeros((len(x), k)), real + 2.0, real)
  np.testing.assert_allclose(shifted["fd_classifier"], 3 * 2.0 ** 2, rtol=1e-6)
  np.testing.assert_allclose(shifted["is_classifier"], 1.0, rtol=1e-9)


@pytest.mark.parametrize("n, m, dim", [(40, 50, 6), (12, 9, 30)])
def test_frechet_distance_of_features_is_the_literal_formula_on_their_statistics(n, m, dim):
  """Equal to the eigendecomposition form on np.cov statistics, with more samples than
  dimensions and with fewer (singular covariances, where no eps offset is needed)."""
  rng = np.random.default_rng(n)
  f1 = rng.normal(size=(n, dim)) @ rng.normal(size=(dim, dim))
  f2 = rng.normal(size=(m, dim)) + 0.5
  expected = _symmetric_fid(f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0),
                            np.cov(f2, rowvar=False))
  assert fid.frechet_distance_of_features(f1, f2) == pytest.approx(expected, rel=1e-6, abs=1e-6)
  assert abs(fid.frechet_distance_of_features(f1, f1)) < 1e-9
  with pytest.raises(ValueError, match="need features"):
    fid.frechet_distance_of_features(f1, f2[:, :2])
