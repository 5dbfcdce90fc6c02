"""Fréchet distance with known answers (docs/protocols.md §4.1)."""

import numpy as np
import pytest

from factorbench.errors import FactorbenchError
from factorbench.metrics.frechet import feature_statistics, frechet_distance


def test_identical_feature_sets_give_zero():
    feats = np.random.default_rng(0).normal(size=(300, 64))
    mu, sigma = feature_statistics(feats)
    d = frechet_distance(mu, sigma, mu, sigma)
    assert 0.0 <= d <= 1e-6


def test_identical_sets_with_fewer_samples_than_dimensions():
    feats = np.random.default_rng(1).normal(size=(20, 256)) * 3  # rank-deficient covariance
    mu, sigma = feature_statistics(feats)
    assert 0.0 <= frechet_distance(mu, sigma, mu, sigma) <= 1e-6


def test_diagonal_gaussians_closed_form():
    # d² = ‖μ1−μ2‖² + Σ (σ1 − σ2)² for diagonal covariances with std devs σ
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    sd1, sd2 = np.array([1.0, 2.0, 0.5]), np.array([2.0, 3.0, 0.1])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((sd1 - sd2) ** 2)
    assert frechet_distance(mu1, np.diag(sd1**2), mu2, np.diag(sd2**2)) == pytest.approx(expected, rel=1e-12)


def test_non_commuting_covariances_match_the_definition():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = a @ a.T, b @ b.T
    root1 = _sqrtm_psd(s1)
    expected = np.trace(s1) + np.trace(s2) - 2 * np.trace(_sqrtm_psd(root1 @ s2 @ root1))
    assert frechet_distance(np.zeros(5), s1, np.zeros(5), s2) == pytest.approx(expected, rel=1e-9)


def _sqrtm_psd(m):
    w, v = np.linalg.eigh(m)
    return (v * np.sqrt(w)) @ v.T


def test_few_samples_many_dimensions_is_finite_and_non_negative():
    rng = np.random.default_rng(3)
    mu1, s1 = feature_statistics(rng.normal(size=(10, 512)))
    mu2, s2 = feature_statistics(rng.normal(size=(12, 512)) + 0.1)
    d = frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(d) and d >= 0


def test_statistics_do_not_depend_on_how_features_were_batched():
    feats = np.random.default_rng(4).normal(size=(50, 16)).astype(np.float32)
    whole = feature_statistics(feats)
    pieces = feature_statistics(np.concatenate([feats[:7], feats[7:30], feats[30:]]))
    assert np.array_equal(whole[0], pieces[0]) and np.array_equal(whole[1], pieces[1])


def test_bad_statistics_are_clear_errors():
    with pytest.raises(FactorbenchError, match="at least 2 images"):
        feature_statistics(np.zeros((1, 4)))
    with pytest.raises(FactorbenchError, match="do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(FactorbenchError, match="NaN"):
        frechet_distance(np.zeros(2), np.eye(2) * np.nan, np.zeros(2), np.eye(2))


def test_a_covariance_from_a_file_must_be_symmetric_positive_semi_definite():
    from factorbench.metrics.frechet import checked_covariance_root

    rng = np.random.default_rng(0)
    few = np.cov(rng.normal(size=(5, 40)), rowvar=False)  # N < D: rank 4, tiny negative eigenvalues
    root = checked_covariance_root(few, "f.npz")
    np.testing.assert_allclose(root @ root, few, atol=1e-10)
    np.testing.assert_allclose(checked_covariance_root(np.diag([4.0, 9.0]), "f.npz"), np.diag([2.0, 3.0]))
    with pytest.raises(FactorbenchError, match="f.npz: sigma is not symmetric"):
        checked_covariance_root(np.array([[1.0, 0.5], [0.0, 1.0]]), "f.npz")
    with pytest.raises(FactorbenchError, match=r"f.npz: sigma is not positive semi-definite \(smallest eigenvalue -1"):
        checked_covariance_root(np.array([[1.0, 2.0], [2.0, 1.0]]), "f.npz")
    with pytest.raises(FactorbenchError, match="NaN or inf"):
        checked_covariance_root(np.array([[np.nan]]), "f.npz")


@pytest.mark.parametrize("n1,n2", [(12, 30), (30, 12), (12, 200), (200, 12), (100, 150)])
def test_features_route_equals_the_square_root_route(n1, n2):
    """With fewer images than dimensions on a side, the cross term comes from an n x n
    problem (X1 S2 X1^T or X1 X2^T); it is the same number as the D x D route."""
    rng = np.random.default_rng(n1 * 1000 + n2)
    dim = 64
    mixing = rng.normal(size=(dim, dim)) / 8
    f1 = rng.normal(size=(n1, dim)) @ mixing + 0.3
    f2 = rng.normal(size=(n2, dim)) * 1.3 + rng.normal(size=(n2, dim)) @ mixing
    (m1, s1), (m2, s2) = feature_statistics(f1), feature_statistics(f2)
    both = frechet_distance(m1, s1, m2, s2, features1=f1, features2=f2)  # the SVD of X1 X2^T
    smaller = {"features1": f1} if n1 <= n2 else {"features2": f2}  # X S_other X^T of the smaller side
    assert frechet_distance(m1, s1, m2, s2, **smaller) == pytest.approx(both, rel=1e-11)
    # the larger side's product, or the D x D square roots, have more zero eigenvalues than
    # the true rank, whose rounding-level values (~1e-16) weigh ~1e-8 after the square root
    larger = {"features2": f2} if n1 <= n2 else {"features1": f1}
    assert frechet_distance(m1, s1, m2, s2, **larger) == pytest.approx(both, rel=1e-7)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(both, rel=1e-7)


def test_features_route_gives_zero_for_identical_sets():
    feats = np.random.default_rng(3).normal(size=(20, 256)) * 3
    mu, sigma = feature_statistics(feats)
    assert 0.0 <= frechet_distance(mu, sigma, mu, sigma, features1=feats, features2=feats) <= 1e-6


def test_features_that_do_not_match_the_statistics_are_ignored():
    """A statistics file carrying a subset of its features (or other features) must not
    change the distance: it comes from the statistics then."""
    rng = np.random.default_rng(4)
    full = rng.normal(size=(300, 16)) @ rng.normal(size=(16, 16))
    other = rng.normal(size=(40, 16)) * 2
    (m1, s1), (m2, s2) = feature_statistics(full), feature_statistics(other)
    expected = frechet_distance(m1, s1, m2, s2)
    for subset in (full[:10], full[:, :8], np.full((10, 16), np.nan)):
        assert frechet_distance(m1, s1, m2, s2, features1=subset, features2=other) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(m1, s1, m1, s1, features1=full[:10], features2=full[:10]) <= 1e-6
