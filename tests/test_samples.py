"""Output diversity and the collapse criterion (§3.5.1 "Model Collapse")."""

import math

import pytest
import torch

from factorbench.data import get_dataset
from factorbench.errors import FactorbenchError
from factorbench.evaluators import EVALUATORS, EvalContext
from factorbench.metrics.diversity import mean_pairwise_distance
from factorbench.models.base import GenerativeModel


def test_mean_pairwise_distance_known_values():
    x = torch.zeros(3, 1, 1, 2)
    x[1, 0, 0, 0] = 3.0
    x[2, 0, 0, 1] = 4.0  # distances 3, 4, 5
    assert mean_pairwise_distance(x) == pytest.approx(4.0)
    assert mean_pairwise_distance(torch.ones(5, 3, 4, 4)) == 0.0
    with pytest.raises(FactorbenchError):
        mean_pairwise_distance(torch.zeros(1, 3, 4, 4))


class Copycat(GenerativeModel):
    """reconstruct = identity (or a constant image); sample = random test images (or constant)."""

    def __init__(self, images, constant):
        super().__init__(None, images.shape[1:])
        self.images, self.constant = images, constant
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def reconstruct(self, x):
        return torch.full_like(x, 0.5) if self.constant else x

    def sample(self, n, generator=None):
        idx = torch.randint(len(self.images), (n,), generator=generator)
        return torch.full_like(self.images[idx], 0.5) if self.constant else self.images[idx]


@pytest.mark.parametrize("constant, collapsed", [(False, 0.0), (True, 1.0)])
def test_collapse_flag(constant, collapsed):
    test = get_dataset("digits-rgb", "test", n=40)
    ctx = EvalContext(Copycat(test.images(), constant), test, test)
    values = {v.metric: v.value for v in EVALUATORS.get("samples")(ctx, n=40)}
    assert values["collapsed"] == collapsed
    if constant:
        assert values["output_diversity_ratio"] == 0.0 and values["sample_diversity_ratio"] == 0.0
    else:
        assert values["output_diversity_ratio"] == pytest.approx(1.0)  # reconstructions are the images
        assert 0.8 < values["sample_diversity_ratio"] <= 1.1  # resampled with repeats
        assert not math.isnan(values["sample_diversity_ratio"])
