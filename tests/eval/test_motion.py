"""Geodesic distance on the SRVF sphere against geomstats' Hypersphere."""

import numpy as np

np.trapz = getattr(np, "trapz", np.trapezoid)  # geomstats 2.8 imports numpy.trapz
from geomstats.geometry.hypersphere import Hypersphere  # pylint: disable=g-import-not-at-top

from fxs_jax.eval import motion

T, D = 6, 4


def _unit_srvfs(n, seed):
  q = np.random.default_rng(seed).normal(size=(n, T, D))
  return q / np.sqrt(np.sum(q * q, axis=(1, 2), keepdims=True) / T)  # <q, q> = 1


def test_inner_product_normalisation():
  q = _unit_srvfs(3, 0)
  np.testing.assert_allclose(motion.srvf_inner(q, q), 1.0)


def test_geodesic_matches_geomstats_hypersphere():
  a, b = _unit_srvfs(5, 1), _unit_srvfs(5, 2)
  sphere = Hypersphere(dim=T * D - 1)
  # <q1, q2> = sum / T: the same sphere as R^(T*D) after scaling by 1/sqrt(T).
  want = [sphere.metric.dist(x.ravel() / np.sqrt(T), y.ravel() / np.sqrt(T)) for x, y in zip(a, b)]
  np.testing.assert_allclose(motion.geodesic_distance(a, b), want, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(np.diagonal(motion.pairwise_geodesic(a, b)), want, rtol=1e-6,
                             atol=1e-7)


def test_distance_to_itself_and_antipode():
  q = _unit_srvfs(2, 3)
  np.testing.assert_allclose(motion.geodesic_distance(q, q), 0.0, atol=1e-6)
  np.testing.assert_allclose(motion.geodesic_distance(q, -q), np.pi, atol=1e-6)


def test_motion_metrics_nearest_real_is_zero_for_copies():
  real = _unit_srvfs(4, 4)
  m = motion.motion_metrics(real[::-1].copy(), real)
  assert m["geodesic_nearest_real"] < 1e-6 and m["geodesic_paired"] > 0.1 and m["n"] == 4


# ---- per class: hand-computed cases ------------------------------------------------------------
def _on_circle(angles, first, second):
  """Unit SRVFs ``cos(a) e_first + sin(a) e_second`` (e_i: orthonormal basis of R^(T*D), scaled by
  sqrt(T) so that <q, q> = sum / T = 1); points on one great circle are ``|a - b|`` apart, and
  points on circles of disjoint axes are pi / 2 apart."""
  basis = np.eye(T * D) * np.sqrt(T)
  angles = np.asarray(angles, np.float64)[:, None]
  return (np.cos(angles) * basis[first] + np.sin(angles) * basis[second]).reshape(-1, T, D)


def test_nearest_by_class_two_clusters():
  reference = np.concatenate([_on_circle([0.0, 0.3], 0, 1), _on_circle([0.0, 0.5], 2, 3)])
  reference_class = np.array([1, 1, 2, 2])
  q = np.concatenate([_on_circle([0.1], 0, 1), _on_circle([0.2], 2, 3)])
  m = motion.nearest_by_class(q, [1, 2], reference, reference_class)
  np.testing.assert_allclose(m["geodesic_nearest_same_class"][0], (0.1 + 0.2) / 2, atol=1e-7)
  np.testing.assert_allclose(m["geodesic_nearest_other_class"][0], np.pi / 2, atol=1e-7)
  np.testing.assert_allclose(m["geodesic_nearest_real"][0], 0.15, atol=1e-7)
  assert m["nearest_is_same_class"] == (1.0, 2)
  # Asked for the wrong classes: every nearest real motion is of another class.
  wrong = motion.nearest_by_class(q, [2, 1], reference, reference_class)
  assert wrong["nearest_is_same_class"] == (0.0, 2)
  np.testing.assert_allclose(wrong["geodesic_nearest_same_class"][0], np.pi / 2, atol=1e-7)


def test_nearest_by_class_leave_one_out():
  q = _on_circle([0.0, 0.3, 1.0], 0, 1)
  m = motion.nearest_by_class(q, [1, 1, 1], q, [1, 1, 1], exclude_self=True)
  np.testing.assert_allclose(m["geodesic_nearest_same_class"][0], (0.3 + 0.3 + 0.7) / 3,
                             atol=1e-7)
  assert "geodesic_nearest_other_class" not in m  # one class: no other-class neighbour


def test_within_class_diversity_closed_form():
  theta, phi = 0.4, 1.0
  q = np.concatenate([_on_circle([0.0, theta], 0, 1), _on_circle([0.2, 0.2 + phi], 2, 3),
                      _on_circle([0.0], 4, 5)])  # a class of one: no pair, left out
  m = motion.within_class_diversity(q, [1, 1, 2, 2, 3])
  np.testing.assert_allclose(m["diversity_within_class"][0], (theta + phi) / 2, atol=1e-7)
  assert m["diversity_within_class"][1] == 4
  np.testing.assert_allclose(list(m["per_class"].values()), [theta, phi], atol=1e-7)
  # Three points at 0, theta, 2 theta on a great circle: pairs theta, theta, 2 theta.
  three = motion.within_class_diversity(_on_circle([0.0, theta, 2 * theta], 0, 1), [0, 0, 0])
  np.testing.assert_allclose(three["diversity_within_class"][0], 4 * theta / 3, atol=1e-7)
  assert motion.within_class_diversity(q[:1], [1]) == {}


def test_real_reference_pairs_within_class():
  real = np.concatenate([_on_circle([0.0, 0.2], 0, 1), _on_circle([0.0, 0.6], 2, 3)])
  np.testing.assert_allclose(motion.real_reference(real, [1, 1, 2, 2])["geodesic_paired"], 0.4,
                             atol=1e-7)
  # Without classes: the next example in order (0.2, pi/2, 0.6, pi/2).
  np.testing.assert_allclose(motion.real_reference(real)["geodesic_paired"],
                             (0.2 + np.pi / 2 + 0.6 + np.pi / 2) / 4, atol=1e-7)


def test_report_rows_model_beside_real_heldout():
  train = np.concatenate([_on_circle([0.0, 0.1], 0, 1), _on_circle([0.0, 0.1], 2, 3)])
  real = np.concatenate([_on_circle([0.3, 0.5], 0, 1), _on_circle([0.3, 0.5], 2, 3)])
  classes = np.array([1, 1, 2, 2])
  copies = train.copy()  # a model that copies its training motions
  rows = motion.report(copies, real, classes, train, [1, 1, 2, 2],
                       classify=lambda q: np.where(np.abs(q[:, 0, 0]) > 0.1, 1, 2))
  value = {(r["method"], r["metric"]): r["value"] for r in rows}
  np.testing.assert_allclose(value["model", "geodesic_nearest_same_class"], 0.0, atol=1e-6)
  np.testing.assert_allclose(value["real_heldout", "geodesic_nearest_same_class"],
                             (0.2 + 0.4) / 2, atol=1e-7)
  np.testing.assert_allclose(value["model", "diversity_within_class"], 0.1, atol=1e-7)
  np.testing.assert_allclose(value["real_heldout", "diversity_within_class"], 0.2, atol=1e-7)
  np.testing.assert_allclose(value["model", "geodesic_paired"], (0.3 + 0.4) / 2, atol=1e-7)
  np.testing.assert_allclose(value["real_heldout", "geodesic_paired"], 0.2, atol=1e-7)
  for method in ("model", "real_heldout"):
    assert value[method, "nearest_is_same_class"] == 1.0
    assert value[method, "motion_class_accuracy"] == 1.0
    np.testing.assert_allclose(value[method, "geodesic_nearest_other_class"], np.pi / 2,
                               atol=1e-7)
  # No train set: the held-out reals are the reference, leave-one-out for their own row.
  value = {(r["method"], r["metric"]): r["value"] for r in motion.report(copies, real, classes)}
  np.testing.assert_allclose(value["real_heldout", "geodesic_nearest_same_class"], 0.2,
                             atol=1e-7)
  np.testing.assert_allclose(value["model", "geodesic_nearest_same_class"], (0.3 + 0.2) / 2,
                             atol=1e-7)  # 0 -> 0.3, 0.1 -> 0.3
  # No classes: only the class-free rows.
  metrics = {r["metric"] for r in motion.report(copies, real)}
  assert metrics == {"geodesic_paired", "geodesic_nearest_real"}


# ---- the independent classifier ----------------------------------------------------------------
def _clusters(n_per_class, num_classes, spread, seed):
  """Noisy unit SRVFs around ``num_classes`` mutually orthogonal centres (pi / 2 apart)."""
  rng = np.random.default_rng(seed)
  centres = np.eye(T * D)[:num_classes] * np.sqrt(T)
  labels = np.repeat(np.arange(num_classes), n_per_class)
  q = centres[labels] + spread * rng.normal(size=(len(labels), T * D))
  q = q.reshape(-1, T, D)
  return q / np.sqrt(motion.srvf_inner(q, q))[:, None, None], labels


def test_classifier_separates_clusters_and_falls_to_chance_on_wrong_labels():
  from fxs_jax.eval import motion_classifier
  train, train_labels = _clusters(30, 4, 0.15, seed=5)
  test, test_labels = _clusters(50, 4, 0.15, seed=6)
  classifier = motion_classifier.fit(train, train_labels + 1)  # any labels: 1..4
  np.testing.assert_array_equal(classifier.classes_K, [1, 2, 3, 4])
  assert classifier.train_accuracy == 1.0
  assert classifier.accuracy(test, test_labels + 1) == 1.0
  # Motions that are not of the class asked for: each one's class shifted (accuracy exactly 0),
  # or shuffled (accuracy near chance, 1/4).
  assert classifier.accuracy(test, (test_labels + 1) % 4 + 1) == 0.0
  shuffled = np.random.default_rng(7).permutation(test_labels) + 1
  assert abs(classifier.accuracy(test, shuffled) - 0.25) < 0.1


def test_classifier_finds_nothing_in_structureless_labels():
  from fxs_jax.eval import motion_classifier
  # One blob, labels with no relation to the motions (the shapes above: no second compile).
  q, _ = _clusters(320, 1, 0.5, seed=8)
  labels = np.random.default_rng(9).integers(0, 4, len(q))
  classifier = motion_classifier.fit(q[:120], labels[:120])
  assert abs(classifier.accuracy(q[120:], labels[120:]) - 0.25) < 0.1
