import numpy as np
import pytest
import torch

from factorbench.metrics.probes import linear_probe, mlp_probe
from factorbench.metrics.reconstruction import sse_per_image
from factorbench.errors import FactorbenchError


def test_sse_per_image_known_value():
    x = torch.zeros(2, 3, 4, 4)
    x_hat = torch.zeros(2, 3, 4, 4)
    x_hat[1] = 0.5
    assert sse_per_image(x, x_hat).tolist() == [0.0, 48 * 0.25]
    with pytest.raises(ValueError):
        sse_per_image(x, x_hat[:, :1])


def blobs(n, seed, informative=True):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, size=n)
    z = rng.normal(size=(n, 5))
    if informative:
        z[:, 0] += 6 * y
    return z, y


@pytest.mark.parametrize("probe", [linear_probe, mlp_probe])
def test_probe_reads_an_informative_code(probe):
    z_tr, y_tr = blobs(400, 0)
    z_te, y_te = blobs(200, 1)
    r = probe(z_tr, y_tr, z_te, y_te)
    assert r.test_acc > 0.95 and r.train_acc > 0.95
    assert r.chance == pytest.approx(np.bincount(y_te).max() / len(y_te))


def test_linear_probe_is_at_chance_on_noise():
    z_tr, y_tr = blobs(600, 0, informative=False)
    z_te, y_te = blobs(2000, 1, informative=False)
    r = linear_probe(z_tr, y_tr, z_te, y_te)
    assert abs(r.test_acc - 0.25) < 0.05


def test_probe_rejects_nan_codes():
    z, y = blobs(50, 0)
    z[0, 0] = np.nan
    with pytest.raises(FactorbenchError, match="NaN"):
        linear_probe(z, y, z, y)
