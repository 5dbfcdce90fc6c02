"""Improved precision/recall (Kynkäänniemi et al. 2019) and streamed feature moments: analytic cases."""

import numpy as np
import pytest
import torch

from factorbench.errors import FactorbenchError
from factorbench.metrics.frechet import feature_statistics
from factorbench.metrics.precision_recall import knn_radii, precision_recall
from factorbench.metrics.running_moments import RunningMoments


def test_identical_sets_have_precision_and_recall_one():
    x = np.random.default_rng(0).normal(size=(40, 8))
    out = precision_recall(x, x.copy())
    assert out["precision"] == 1.0 and out["recall"] == 1.0 and out["f_score"] == 1.0


def test_disjoint_far_apart_sets_have_precision_and_recall_zero():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(30, 8)), rng.normal(size=(30, 8)) + 100.0
    out = precision_recall(fake, real)
    assert out == {"precision": 0.0, "recall": 0.0, "f_score": 0.0}


def test_a_hand_computed_one_dimensional_case():
    # real 0..4: with k=1 every radius is 1, so the real manifold is [-1, 5]: fake 0.5 is in, 10 is not
    # fake {0.5, 10}: each one's only neighbour is the other, radius 9.5: balls [-9, 10] and [0.5, 19.5] cover 0..4
    real = np.arange(5.0)[:, None]
    fake = np.array([[0.5], [10.0]])
    assert knn_radii(real, k=1).tolist() == [1.0] * 5
    out = precision_recall(fake, real, k=1)
    assert out["precision"] == 0.5 and out["recall"] == 1.0
    assert out["f_score"] == pytest.approx(2 * 0.5 / 1.5)
    # k=3: radii of real are 3, 2, 2, 2, 3 (point 2's third neighbour is 0 or 4, at distance 2)
    assert knn_radii(real, k=3).tolist() == [3.0, 2.0, 2.0, 2.0, 3.0]


def test_agrees_with_torch_fidelity_prc():
    from torch_fidelity.metric_prc import prc_features_to_metric

    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(50, 16)), rng.normal(size=(45, 16)) * 1.3 + 0.3
    ours = precision_recall(fake, real, k=3)
    theirs = prc_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real), prc_neighborhood=3,
                                    prc_batch_size=10000, save_cpu_ram=False, verbose=False)
    assert 0 < ours["precision"] < 1 and 0 < ours["recall"] < 1
    assert ours["precision"] == pytest.approx(theirs["precision"], abs=1e-6)  # theirs: a float32 mean
    assert ours["recall"] == pytest.approx(theirs["recall"], abs=1e-6)


def test_too_few_samples_for_k_is_one_clear_error():
    with pytest.raises(FactorbenchError, match="more than 3 samples"):
        precision_recall(np.zeros((3, 2)), np.ones((10, 2)))


def test_streamed_moments_equal_the_all_at_once_statistics():
    x = np.random.default_rng(3).normal(loc=5.0, size=(103, 12)).astype(np.float32)
    moments = RunningMoments()
    for start, stop in ((0, 1), (1, 8), (8, 50), (50, 103)):
        moments.add(x[start:stop])
    mu, sigma = moments.statistics()
    mu_ref, sigma_ref = feature_statistics(x)
    np.testing.assert_allclose(mu, mu_ref, rtol=1e-12)
    np.testing.assert_allclose(sigma, sigma_ref, rtol=1e-10, atol=1e-13)
