"""The semantic latent space (thesis §4.4.3, eqs 4.1–4.3): the equations and their accuracies."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from factorbench.data import get_dataset
from factorbench.data.dataset import ArrayDataset
from factorbench.errors import FactorbenchError
from factorbench.figures.style import LABEL_PX, PAD
from factorbench.metrics.recon_classifier import ReconClassifier
from factorbench.metrics.semantic import (DEFINITIONS, FIGURE_SCALE, arithmetic_triplets, attribute_direction,
                                          latent_arithmetic, latent_path, semantic_scores)
from factorbench.models import build_model


# -- eq 4.1: latent arithmetic ---------------------------------------------------------------

def test_latent_arithmetic_on_one_hot_attribute_codes():
    # code = [female, male | no glasses, glasses]
    female_no = np.array([1.0, 0, 1, 0])
    male_glasses = np.array([0.0, 1, 0, 1])
    male_no = np.array([0.0, 1, 1, 0])
    np.testing.assert_array_equal(latent_arithmetic(female_no, male_glasses, male_no), [1, 0, 0, 1])


def test_latent_arithmetic_broadcasts_rows_and_keeps_the_type():
    rng = np.random.default_rng(0)
    p1, p2, neg = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=(5, 3))
    out = latent_arithmetic(p1, p2, neg)
    assert isinstance(out, np.ndarray) and out.shape == (5, 3)
    np.testing.assert_allclose(out, p1 + p2[None] - neg)
    t = latent_arithmetic(torch.as_tensor(p1), torch.as_tensor(p2), torch.as_tensor(neg))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_allclose(t.numpy(), out)
    with pytest.raises(FactorbenchError, match="broadcast"):
        latent_arithmetic(p1, rng.normal(size=4), neg)


# -- eq 4.2: attribute direction ---------------------------------------------------------------

def test_attribute_direction_of_two_clusters_is_the_difference_of_their_means():
    rng = np.random.default_rng(1)
    centre0, centre1 = np.array([0.0, 0, 0]), np.array([3.0, -2, 1])
    mu = np.concatenate([rng.normal(size=(300, 3)) + centre0, rng.normal(size=(200, 3)) + centre1])
    labels = np.array([0] * 300 + [1] * 200)
    exact = mu[labels == 1].mean(0) - mu[labels == 0].mean(0)
    np.testing.assert_allclose(attribute_direction(mu, labels, 0, 1, n_max=500), exact)  # all rows used
    np.testing.assert_allclose(attribute_direction(mu, labels, 1, 0), -exact)
    sub = attribute_direction(mu, labels, 0, 1, n_max=100, rng=3)  # 100 random rows of each
    np.testing.assert_allclose(sub, centre1 - centre0, atol=0.5)
    assert not np.allclose(sub, exact)
    np.testing.assert_array_equal(sub, attribute_direction(mu, labels, 0, 1, n_max=100, rng=3))
    t = attribute_direction(torch.as_tensor(mu), labels, 0, 1)
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), exact)


def test_attribute_direction_needs_rows_of_both_values():
    mu, labels = np.zeros((4, 2)), np.array([0, 0, 1, 1])
    with pytest.raises(FactorbenchError, match="no rows with attribute value 2"):
        attribute_direction(mu, labels, 0, 2)
    with pytest.raises(FactorbenchError, match="one attribute label per row"):
        attribute_direction(mu, labels.reshape(2, 2), 0, 1)


# -- eqs 4.2 / 4.3: latent path ----------------------------------------------------------------

def test_latent_path_shapes_and_endpoints():
    rng = np.random.default_rng(2)
    start, shared, per_row = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(4, 3))
    path = latent_path(start, shared, [0, 0.5, 1])
    assert path.shape == (3, 4, 3)
    np.testing.assert_allclose(path[0], start)
    np.testing.assert_allclose(path[1], start + 0.5 * shared)
    np.testing.assert_allclose(path[2], start + shared)
    both = latent_path(start, [shared, per_row], (0.0, 0.25))  # eq 4.3: same λ on both
    np.testing.assert_allclose(both[1], start + 0.25 * (shared + per_row))
    t = latent_path(torch.as_tensor(start), torch.as_tensor(per_row), [1.0])
    assert isinstance(t, torch.Tensor) and t.shape == (1, 4, 3)
    np.testing.assert_allclose(t[0].numpy(), start + per_row)
    with pytest.raises(FactorbenchError, match="does not fit"):
        latent_path(start, rng.normal(size=(2, 3)), [1.0])
    with pytest.raises(FactorbenchError, match="lambdas"):
        latent_path(start, shared, [])


# -- eq 4.1: which images ----------------------------------------------------------------------

def _valid_triplets(a, b):
    n = len(a)
    return {(i, j, k) for i, j, k in itertools.product(range(n), repeat=3)
            if a[j] == a[k] != a[i] and b[k] == b[i] != b[j]}


def test_arithmetic_triplets_satisfy_the_constraints():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 3, 200), rng.integers(0, 4, 200)
    (idx, expected) = arithmetic_triplets(a, b, 300, rng=0)
    assert idx.shape == (300, 3) and expected.shape == (300, 2)
    i, j, k = idx.T
    assert (a[i] != a[j]).all() and (a[j] == a[k]).all()
    assert (b[i] == b[k]).all() and (b[j] != b[i]).all()
    np.testing.assert_array_equal(expected, np.stack([a[i], b[j]], axis=1))
    np.testing.assert_array_equal(idx, arithmetic_triplets(a, b, 300, rng=0).indices)


def test_arithmetic_triplets_are_uniform_over_valid_triplets():
    a = np.array([0, 0, 1, 1, 1, 2])
    b = np.array([0, 1, 0, 1, 1, 0])
    valid = _valid_triplets(a, b)
    idx, _ = arithmetic_triplets(a, b, 6000, rng=np.random.default_rng(4))
    drawn = [tuple(int(v) for v in t) for t in idx]
    assert set(drawn) == valid  # every draw valid, every valid triplet drawn
    counts = np.array([drawn.count(t) for t in sorted(valid)])
    expected = len(drawn) / len(valid)
    assert np.abs(counts / expected - 1).max() < 0.25, counts


def test_arithmetic_triplets_error_when_impossible():
    with pytest.raises(FactorbenchError, match="no valid arithmetic triplet"):
        arithmetic_triplets(np.array([0, 1, 2, 0]), np.array([0, 1, 2, 0]), 5, rng=0)  # a determines b
    with pytest.raises(FactorbenchError, match="no valid arithmetic triplet"):
        arithmetic_triplets(np.array([0, 0, 1]), np.array([0, 1, 2]), 5, rng=0)  # no value of b shared
    idx, expected = arithmetic_triplets(np.array([0, 0, 1]), np.array([0, 1, 0]), 2, rng=0)  # the one L-shape
    np.testing.assert_array_equal(idx, [[2, 1, 0], [2, 1, 0]])
    np.testing.assert_array_equal(expected, [[1, 1], [1, 1]])


# -- a toy world where the answer is known -----------------------------------------------------
# attribute "position" (a): a square in one of 4 column blocks; "colour" (b): pure R, G or B.

N_POS, N_COL = 4, 3


def _position_masks(height, width):
    masks = torch.zeros(N_POS, height, width)
    for p in range(N_POS):
        masks[p, height // 4:3 * height // 4, p * width // N_POS:(p + 1) * width // N_POS] = 1.0
    return masks


def render(position, colour, shape):
    """Images (N, 3, H, W) in {0, 1}: the square at ``position`` in colour ``colour``."""
    _, height, width = shape
    position, colour = torch.as_tensor(position).long(), torch.as_tensor(colour).long()
    colours = nn.functional.one_hot(colour, 3).float()
    return colours[:, :, None, None] * _position_masks(height, width)[position][:, None]


class ReadPosition(nn.Module):
    """Exact classifier of the position: brightness per column block."""

    def forward(self, x):
        masks = _position_masks(*x.shape[2:]).to(x)
        return torch.einsum("nhw,phw->np", x.sum(1), masks)


class ReadColour(nn.Module):
    """Exact classifier of the colour: total per channel."""

    def forward(self, x):
        return x.sum((2, 3))


class Oracle(nn.Module):
    """encode: one-hot(position) ‖ one-hot(colour); decode: render argmax of each block."""

    def __init__(self, image_shape, decode_colour=True, constant=False):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.decode_colour, self.constant = decode_colour, constant

    def encode(self, x):
        pos = nn.functional.one_hot(ReadPosition()(x).argmax(1), N_POS)
        col = nn.functional.one_hot(ReadColour()(x).argmax(1), N_COL)
        z = torch.cat([pos, col], 1).float()
        return z, torch.zeros_like(z)

    def decode(self, z):
        if self.constant:
            return torch.full((len(z), *self.image_shape), 0.5)
        colour = z[:, N_POS:].argmax(1) if self.decode_colour else torch.zeros(len(z), dtype=torch.long)
        return render(z[:, :N_POS].argmax(1), colour, self.image_shape)


def toy_dataset(split, reps, shape=(3, 16, 16)):
    """Every (position, colour) pair ``reps`` times: balanced, so attribute means are exact."""
    pos, col = (g.ravel() for g in np.meshgrid(np.arange(N_POS), np.arange(N_COL), indexing="ij"))
    pos, col = np.tile(pos, reps), np.tile(col, reps)
    images = (render(pos, col, shape) * 255).round().to(torch.uint8).numpy()
    arrays = {"image": images, "count": np.ones(len(pos), np.int64),
              "label_position": pos.astype(np.int64), "label_colour": col.astype(np.int64)}
    return ArrayDataset("toy", split, arrays)


@pytest.fixture(scope="module")
def toy():
    return toy_dataset("train", 10), toy_dataset("test", 5)


def _scores(model, toy, **kw):
    train, test = toy
    kw = {"n_triplets": 40, "n_mean": 500, **kw}
    return semantic_scores(model, train, test, "position", "colour", ReadPosition(), ReadColour(), **kw)


# -- semantic_scores -----------------------------------------------------------------------------

def test_classifiers_and_oracle_are_exact_on_the_toy_world(toy):
    test = toy[1]
    assert (ReadPosition()(test.images()).argmax(1).numpy() == test.labels("position")).all()
    assert (ReadColour()(test.images()).argmax(1).numpy() == test.labels("colour")).all()


@pytest.mark.parametrize("model_shape", [(3, 16, 16), (3, 32, 32)])
def test_oracle_model_gets_everything_right(toy, model_shape):
    res = _scores(Oracle(model_shape), toy)
    for key in DEFINITIONS:
        assert res[key] == 1.0, key
    assert res["interp_acc_by_lambda"][-1] == 1.0 and res["interp_acc_by_lambda"][0] == 0.0  # λ = 0: start value
    assert res["n_triplets"] == 40 and res["n_starts"] == 40
    assert res["mean_counts_a"] == {str(p): 30 for p in range(N_POS)}
    assert res["mean_counts_b"] == {str(c): 40 for c in range(N_COL)}
    assert set(res["definitions"]) == set(DEFINITIONS) and res["figures"] == []


def test_half_way_is_not_enough_for_a_categorical_attribute(toy):
    # λ = 0.5: the one-hot code is a tie between the start and the target value
    res = _scores(Oracle((3, 16, 16)), toy, lambdas=(0.0, 0.4))
    assert res["interp_acc"] == 0.0 and res["interp_kept_acc"] == 1.0 and res["interp2_acc"] == 0.0


def test_constant_decoder_scores_low(toy):
    res = _scores(Oracle((3, 16, 16), constant=True), toy)
    for key in ("arithmetic_acc", "interp_acc", "interp2_acc", "recon_a_acc", "recon_b_acc"):
        assert res[key] < 0.5, (key, res[key])


def test_decoder_that_drops_the_colour_fails_only_on_colour(toy):
    res = _scores(Oracle((3, 16, 16), decode_colour=False), toy)
    assert res["recon_a_acc"] == 1.0 and res["arithmetic_a_acc"] == 1.0 and res["interp_kept_acc"] == 1.0
    assert res["recon_b_acc"] < 0.5 and res["arithmetic_b_acc"] < 0.5
    assert res["interp_acc"] < 0.5 and res["interp2_acc"] < 0.5 and res["interp2_a_acc"] == 1.0


def test_scores_are_reproducible_and_depend_on_the_seed(toy):
    model = Oracle((3, 16, 16), decode_colour=False)
    first, again, other = _scores(model, toy), _scores(model, toy), _scores(model, toy, seed=1)
    assert first == again
    assert first["arithmetic_b_acc"] != other["arithmetic_b_acc"] or first["interp_acc"] != other["interp_acc"]


def _png_size(path):
    with Image.open(path) as im:
        return im.size


def test_figures_have_the_expected_pixel_size(toy, tmp_path):
    shape, n_show, lambdas = (3, 32, 32), 3, (0.0, 0.5, 1.0)
    res = _scores(Oracle(shape), toy, figure_dir=tmp_path, n_show=n_show, lambdas=lambdas)
    assert sorted(p.rsplit("/", 1)[-1] for p in res["figures"]) == [
        "arithmetic.png", "interpolation.png", "interpolation2.png"]
    side = shape[1] * FIGURE_SCALE
    height = PAD + n_show * (side + PAD)

    def width(cols):
        return LABEL_PX + PAD + cols * (side + PAD)

    assert _png_size(tmp_path / "arithmetic.png") == (width(4), height)
    assert _png_size(tmp_path / "interpolation.png") == (width(1 + len(lambdas)), height)
    assert _png_size(tmp_path / "interpolation2.png") == (width(1 + len(lambdas)), height)


def test_bad_arguments_are_clear_errors(toy):
    train, test = toy
    model = Oracle((3, 16, 16))
    with pytest.raises(FactorbenchError, match="must differ"):
        semantic_scores(model, train, test, "colour", "colour", ReadColour(), ReadColour())
    with pytest.raises(FactorbenchError, match="no label 'size'"):
        semantic_scores(model, train, test, "position", "size", ReadPosition(), ReadColour())
    with pytest.raises(FactorbenchError, match="lambdas"):
        _scores(model, toy, lambdas=())
    per_object = ArrayDataset("toy", "train", {**train.arrays, "label_part": np.zeros((len(train), 2), np.int64)})
    with pytest.raises(FactorbenchError, match="per-object"):
        semantic_scores(model, per_object, test, "position", "part", ReadPosition(), ReadColour())
    one_colour = ArrayDataset("toy", "train", {**train.arrays, "label_colour": np.zeros(len(train), np.int64)})
    with pytest.raises(FactorbenchError, match="fewer than two values"):
        semantic_scores(model, one_colour, test, "position", "colour", ReadPosition(), ReadColour())


def test_untrained_vae_on_shapes_runs_end_to_end(tmp_path):
    train = get_dataset("shapes-fb", "train", n=96, seed=0)
    test = get_dataset("shapes-fb", "test", n=48, seed=0)
    torch.manual_seed(0)
    model = build_model("vae", {"latent_dim": 8, "base_channels": 8, "backbone": "conv3"}, (3, 32, 32))
    classifiers = [ReconClassifier(train.image_shape, 4, channels=(4, 8)) for _ in range(2)]
    # shapes-fb's test split holds out one fg colour per shape: fg_colour is a function of shape there
    with pytest.raises(FactorbenchError, match="shapes-fb/test.*no valid arithmetic triplet"):
        semantic_scores(model, train, test, "shape", "fg_colour", *classifiers, n_triplets=8, n_mean=10)
    res = semantic_scores(model, train, test, "shape", "bg_colour", *classifiers, n_triplets=8, n_mean=10,
                          lambdas=(0.0, 1.0), batch_size=32, figure_dir=tmp_path, n_show=2)
    for key in DEFINITIONS:
        assert 0.0 <= res[key] <= 1.0
    assert res["n_triplets"] == 8 and len(res["figures"]) == 3
    assert _png_size(tmp_path / "interpolation.png")[1] == PAD + 2 * (32 * FIGURE_SCALE + PAD)


def test_semantic_latent_with_finetune_but_no_dataset_is_one_line():
    """Its derived run is named in the driver before any job: a missing key is a clear
    error there, not a KeyError."""
    from factorbench.errors import FactorbenchError
    from factorbench.evaluators.semantic_latent import derived_runs

    with pytest.raises(FactorbenchError, match='semantic_latent needs dataset = "<name>"'):
        derived_runs({"finetune": {"n_train": 10}, "attr_a": "shape", "attr_b": "bg_colour"})
    assert derived_runs({"dataset": "shapes-fb"}) == []
