"""Transfer diagnostics (thesis §4.4, Table 4.1) and 2-D embeddings (§4.2, Figs 4.3/5.5)."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from factorbench.data import get_dataset
from factorbench.errors import FactorbenchError
from factorbench.figures.plots import scatter_png
from factorbench.figures.style import PALETTE
from factorbench.metrics.embedding import pca_2d, tsne_2d
from factorbench.metrics.probes import ProbeResult, linear_probe
from factorbench.data.convert import convert_images
from factorbench.metrics.transfer import (dataset_identity_probe, encode_datasets,
                                          mean_kl_to_prior)
from factorbench.models import build_model


def _gauss(rng, n, d=8, shift=0.0):
    return rng.normal(size=(n, d)) + shift


# -- dataset-identity probe ------------------------------------------------------------------

def test_identity_probe_is_chance_on_two_draws_of_one_distribution():
    rng = np.random.default_rng(0)
    res = dataset_identity_probe([_gauss(rng, 1000), _gauss(rng, 1000)], seed=0)
    assert isinstance(res, ProbeResult)
    assert res.chance == 0.5 and res.n_test == 600 and res.n_train == 1400
    assert abs(res.test_acc - 0.5) < 0.1
    assert len(res.per_dataset_test_acc) == 2


def test_identity_probe_separates_far_apart_datasets():
    rng = np.random.default_rng(1)
    # dataset 0 lies between the other two: separable by a multiclass linear rule only
    codes = [_gauss(rng, 300), _gauss(rng, 100, shift=20.0), _gauss(rng, 100, shift=-20.0)]
    res = dataset_identity_probe(codes, seed=0)
    assert res.train_acc == 1.0 and res.test_acc == 1.0
    assert res.per_dataset_train_acc == [1.0, 1.0, 1.0] and res.per_dataset_test_acc == [1.0, 1.0, 1.0]
    assert res.chance == pytest.approx(0.6)  # 90 of 150 test rows come from the first dataset


def test_identity_probe_per_dataset_accuracy_is_recall():
    # dataset 0 and 1 identical in distribution, dataset 2 far away: 2 is always recognised
    rng = np.random.default_rng(2)
    res = dataset_identity_probe([_gauss(rng, 400), _gauss(rng, 400), _gauss(rng, 400, shift=15.0)], seed=3)
    assert res.per_dataset_test_acc[2] == 1.0
    assert max(res.per_dataset_test_acc[:2]) < 0.8
    expected = (sum(res.per_dataset_test_acc) * 120) / 360  # equal test shares: mean of recalls
    assert res.test_acc == pytest.approx(expected)


def test_identity_probe_matches_linear_probe_on_the_same_split():
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(4)
    codes = [_gauss(rng, 200), _gauss(rng, 200, shift=0.3)]
    res = dataset_identity_probe(codes, seed=7, test_fraction=0.25)
    z, y = np.concatenate(codes), np.repeat([0, 1], 200)
    z_tr, z_te, y_tr, y_te = train_test_split(z, y, test_size=0.25, stratify=y, random_state=7)
    ref = linear_probe(z_tr, y_tr, z_te, y_te, seed=7)
    assert (res.train_acc, res.test_acc, res.chance) == (ref.train_acc, ref.test_acc, ref.chance)
    assert 0.5 < res.test_acc < 1.0  # the small shift is partly visible


@pytest.mark.parametrize("codes, match", [
    ([np.zeros((5, 3))], "at least two datasets"),
    ([np.zeros((5, 3)), np.zeros((5, 4))], "same D"),
    ([np.zeros((5, 3)), np.full((5, 3), np.nan)], "NaN"),
    ([np.zeros((5, 3)), np.zeros((1, 3))], "at least two"),
])
def test_identity_probe_rejects_bad_codes(codes, match):
    with pytest.raises(FactorbenchError, match=match):
        dataset_identity_probe(codes)


# -- KL to the prior -------------------------------------------------------------------------

def test_mean_kl_to_prior_known_values():
    assert mean_kl_to_prior(np.zeros((3, 4)), np.zeros((3, 4))) == 0.0
    assert mean_kl_to_prior(np.ones((3, 4)), np.zeros((3, 4))) == pytest.approx(2.0)
    # mean over images: rows with KL 0 and 2 -> 1
    mu = np.stack([np.zeros(4), np.ones(4)])
    assert mean_kl_to_prior(mu, np.zeros((2, 4))) == pytest.approx(1.0)
    # variance 2 in one dimension: 0.5 (2 - 1 - log 2); accepts tensors
    kl = mean_kl_to_prior(torch.zeros(1, 1), torch.full((1, 1), math.log(2.0)))
    assert kl == pytest.approx(0.5 * (1.0 - math.log(2.0)))


def test_mean_kl_to_prior_rejects_bad_input():
    with pytest.raises(FactorbenchError, match="same shape"):
        mean_kl_to_prior(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(FactorbenchError, match="NaN"):
        mean_kl_to_prior(np.array([[np.nan]]), np.zeros((1, 1)))


# -- encoding several datasets -----------------------------------------------------------------

def test_convert_images_channels_and_size():
    grey = torch.full((2, 1, 64, 64), 0.25)
    out = convert_images(grey, (3, 32, 32))
    assert out.shape == (2, 3, 32, 32) and torch.allclose(out, torch.full_like(out, 0.25))
    red = torch.zeros(1, 3, 8, 8)
    red[:, 0] = 1.0
    out = convert_images(red, (1, 16, 16))
    assert out.shape == (1, 1, 16, 16) and torch.allclose(out, torch.full_like(out, 0.299))
    # antialiased shrink of a 1-pixel checkerboard averages it (plain bilinear: up to 0.32 off)
    checker = (torch.arange(64).view(1, -1) + torch.arange(64).view(-1, 1)) % 2
    out = convert_images(checker.float().view(1, 1, 64, 64), (1, 20, 20))
    assert out.shape == (1, 1, 20, 20)
    assert torch.allclose(out[..., 2:-2, 2:-2], torch.full((1, 1, 16, 16), 0.5), atol=0.01)
    with pytest.raises(FactorbenchError, match="channels"):
        convert_images(torch.zeros(1, 2, 8, 8), (3, 8, 8))


@pytest.fixture(scope="module")
def two_datasets():
    return [get_dataset("digits-rgb", "test", n=40), get_dataset("multi-digits", "test", n=40)]


def test_encode_datasets_with_a_tiny_vae(two_datasets):
    assert [ds.image_shape for ds in two_datasets] == [(3, 32, 32), (1, 64, 64)]
    torch.manual_seed(0)
    model = build_model("vae", {"latent_dim": 4, "base_channels": 4}, (3, 32, 32))
    model.train()
    out = encode_datasets(model, two_datasets, n_per_dataset=10, batch_size=4, device="cpu")
    assert model.training  # mode restored
    assert len(out) == 2
    for mu, logvar in out:
        assert mu.shape == (10, 4) and logvar.shape == (10, 4)
        assert mu.dtype == np.float32 and np.isfinite(mu).all()
    assert mean_kl_to_prior(*out[1]) >= 0.0
    # eval mode, seeded selection: a second call gives the same codes
    again = encode_datasets(model, two_datasets, n_per_dataset=10, batch_size=7, device="cpu")
    np.testing.assert_allclose(again[0][0], out[0][0], rtol=1e-5, atol=1e-6)


class _StubEncoder(torch.nn.Module):
    """Encodes an image as its mean pixel value (mu) and records the input shapes."""

    def __init__(self, image_shape, value=None):
        super().__init__()
        self.image_shape = image_shape
        self.value = value
        self.seen = []

    def encode(self, x):
        self.seen.append(tuple(x.shape[1:]))
        mu = x.mean(dim=(1, 2, 3)).unsqueeze(1).repeat(1, 2)
        if self.value is not None:
            mu = torch.full_like(mu, self.value)
        return mu, torch.zeros_like(mu)


def test_encode_datasets_feeds_converted_images(two_datasets):
    stub = _StubEncoder((1, 48, 48))
    out = encode_datasets(stub, two_datasets, n_per_dataset=None, batch_size=10, device="cpu")
    assert set(stub.seen) == {(1, 48, 48)}
    assert [mu.shape for mu, _ in out] == [(40, 2), (40, 2)]
    # the codes are those of the converted images, in index order
    expected = convert_images(two_datasets[0].images(), (1, 48, 48)).mean(dim=(1, 2, 3)).numpy()
    np.testing.assert_allclose(out[0][0][:, 0], expected, rtol=1e-5, atol=1e-6)
    # mean brightness tells coloured digits (bright backgrounds) from dark multi-digit canvases
    res = dataset_identity_probe([mu for mu, _ in out], seed=0)
    assert res.chance == 0.5 and res.train_acc >= 0.9 and res.test_acc >= 0.9


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_encode_datasets_rejects_non_finite_codes(two_datasets, value):
    with pytest.raises(FactorbenchError, match="NaN or inf"):
        encode_datasets(_StubEncoder((3, 32, 32), value), two_datasets, n_per_dataset=4, batch_size=4)


def test_encode_datasets_rejects_too_many_images(two_datasets):
    with pytest.raises(FactorbenchError, match="cannot draw 41"):
        encode_datasets(_StubEncoder((3, 32, 32)), two_datasets, n_per_dataset=41)


# -- 2-D embeddings and plots ------------------------------------------------------------------

def _clusters(n_per=40, d=10, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(3, d))
    labels = np.repeat(np.arange(3), n_per)
    rng.shuffle(labels)  # interleaved, so order matters
    return centres[labels] + rng.normal(size=(len(labels), d)), labels


def _nearest_centroid_agrees(points, labels):
    centroids = np.stack([points[labels == k].mean(axis=0) for k in range(3)])
    nearest = np.argmin(((points[:, None, :] - centroids[None]) ** 2).sum(-1), axis=1)
    return (nearest == labels).mean()


def test_tsne_2d_shape_and_order():
    codes, labels = _clusters()
    points = tsne_2d(codes, perplexity=30, seed=0)
    assert points.shape == (120, 2)
    assert _nearest_centroid_agrees(points, labels) == 1.0
    np.testing.assert_array_equal(points, tsne_2d(codes, perplexity=30, seed=0))  # seeded


def test_tsne_2d_clips_perplexity_and_needs_three_points():
    codes, _ = _clusters(n_per=4)
    with pytest.warns(UserWarning, match="clipped"):
        points = tsne_2d(codes, perplexity=30)
    assert points.shape == (12, 2)
    with pytest.raises(FactorbenchError, match="at least 3"):
        tsne_2d(np.zeros((2, 5)))


def test_pca_2d_shape_order_and_line():
    codes, labels = _clusters()
    points, ratio = pca_2d(codes)
    assert points.shape == (120, 2) and ratio.shape == (2,)
    assert _nearest_centroid_agrees(points, labels) == 1.0
    # explained variance ratio: each component's variance over the codes' total variance
    np.testing.assert_allclose(ratio, points.var(axis=0) / codes.var(axis=0).sum(), rtol=1e-9)
    assert ratio.sum() < 1.0
    t = np.linspace(-3.0, 5.0, 50)
    line = np.outer(t, [1.0, 2.0, -1.0, 0.5]) + [3.0, 0.0, 1.0, 2.0]
    points, ratio = pca_2d(line)
    assert ratio[0] == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(np.abs(points[:, 0]), np.abs(t - t.mean()) * np.linalg.norm([1, 2, -1, 0.5]))
    with pytest.raises(FactorbenchError, match="2 dimensions"):
        pca_2d(np.zeros((5, 1)))


def test_scatter_png_writes_a_png(tmp_path):
    codes, labels = _clusters()
    points, _ = pca_2d(codes)
    path = scatter_png(points, labels, ["digits-rgb", "multi-digits", "shapes"], tmp_path / "sub" / "pca.png",
                       title="PCA", figsize=(5, 4), dpi=80)
    assert path == tmp_path / "sub" / "pca.png"
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (400, 320)
        pixels = np.asarray(img.convert("RGB")).reshape(-1, 3)
    # the palette's first colour (label 0) is drawn (figures/style.py)
    assert (np.abs(pixels.astype(int) - list(PALETTE[0])).sum(axis=1) < 30).any()
    assert [p.name for p in path.parent.iterdir()] == ["pca.png"]  # no temporary file left


def test_scatter_png_rejects_bad_labels(tmp_path):
    with pytest.raises(FactorbenchError, match="one per point"):
        scatter_png(np.zeros((3, 2)), [0, 1], ["a", "b"], tmp_path / "x.png", "t")
    with pytest.raises(FactorbenchError, match="indexing"):
        scatter_png(np.zeros((2, 2)), [0, 2], ["a", "b"], tmp_path / "x.png", "t")
    assert not (tmp_path / "x.png").exists()
