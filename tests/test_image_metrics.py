"""Image metrics of docs/protocols.md §4.2: sharpness, reconstruction-classifier accuracies, posterior variance."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import factorbench.data.synthetic  # noqa: F401  (registers digits-rgb)
from factorbench.data.cache import cache_root
from factorbench.data.dataset import ArrayDataset
from factorbench.data.registry import get_dataset
from factorbench.errors import FactorbenchError
from factorbench.evaluators import DIRECTIONS, EVALUATORS, EvalContext
from factorbench.metrics import recon_classifier as rc
from factorbench.evaluators import recon_acc
from factorbench.evaluators.posterior_var import posterior_sample_variance
from factorbench.metrics.sharpness import sharpness, sharpness_summary
from factorbench.models import GenerativeModel


# -- sharpness -----------------------------------------------------------------------------

def grey(pixels):
    return torch.tensor(pixels, dtype=torch.float32)[None, None]


def openimaj_reference(y: np.ndarray) -> float:
    """A literal loop port of OpenIMAJ's Sharpness.analyseImage on one float image:
    Laplacian3x3 via FConvolution's BruteForce loop (rows hh .. h-(kh-hh)-1), the 3x3
    AverageBoxFilter over in-image pixels, sum of |L/mu| where mu != 0, over h*w."""
    h, w = y.shape
    kernel = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=np.float64)
    lap = np.zeros_like(y)
    for r in range(1, h - 2):
        for c in range(1, w - 2):
            lap[r, c] = sum(y[r + j - 1, c + i - 1] * kernel[2 - j, 2 - i] for j in range(3) for i in range(3))
    avg = np.zeros_like(y)
    for r in range(h):
        for c in range(w):
            window = y[max(0, r - 1):min(h, r + 2), max(0, c - 1):min(w, c + 2)]
            avg[r, c] = window.sum() / window.size
    total = sum(abs(lap[r, c] / avg[r, c]) for r in range(h) for c in range(w) if avg[r, c] != 0)
    return total / (h * w)


def test_constant_image_is_exactly_zero():
    for value in (0.0, 0.3711, 1.0):
        v = sharpness(torch.full((2, 3, 17, 9), value))
        assert v.tolist() == [0.0, 0.0]


def test_single_bright_pixel_hand_computed():
    # 5x5 black image, one pixel of 1 at (1, 1). OpenIMAJ scores rows/cols 1..H-3 = {1, 2}.
    # L(1,1) = 4, mu(1,1) = 1/9 -> 36;  L(1,2) = L(2,1) = -1, mu = 1/9 -> 9 each;
    # L(2,2) = 0 ((1,1) is only its diagonal neighbour).  Sh = (36 + 9 + 9) / 25 = 2.16
    img = np.zeros((5, 5))
    img[1, 1] = 1.0
    assert sharpness(grey(img))[0] == pytest.approx(54 / 25, abs=1e-12)
    # The same pixel at (3, 3) sits in the last interior row/column, which OpenIMAJ's
    # brute-force convolution never evaluates: L(2,2) = 0 is the only nearby score -> 0.
    img = np.zeros((5, 5))
    img[3, 3] = 1.0
    assert sharpness(grey(img))[0] == 0.0


def test_spike_on_grey_background_hand_computed():
    # Background 0.5, spike 1.0 at (2, 2) in a 5x5 image:
    # L(2,2) = 4*1 - 4*0.5 = 2,  mu(2,2) = (8*0.5 + 1)/9 = 5/9 -> |L/mu| = 3.6
    # L(1,2) = L(2,1) = 4*0.5 - (3*0.5 + 1) = -0.5, mu = 5/9 -> 0.9 each;  L(1,1) = 0
    # Sh = (3.6 + 0.9 + 0.9) / 25 = 0.216
    img = np.full((5, 5), 0.5)
    img[2, 2] = 1.0
    assert sharpness(grey(img))[0] == pytest.approx(5.4 / 25, abs=1e-12)


def spike_formula(background: float, d: float) -> float:
    # 5x5, spike of height d at (2,2) on a constant background: from the arithmetic above,
    # Sh = (4d + d + d) / (background + d/9) / 25
    return 6 * d / (background + d / 9) / 25


def test_rgb_uses_yuv_luminance_weights():
    # Grey background 0.5 in all channels (Y = 0.5). Raising only G (or only B) of the
    # centre pixel by 0.5 raises Y by 0.587*0.5 (or 0.114*0.5). Sh divides L by mu, so it
    # is scale-invariant: on a black background the colour would not matter; on grey it does.
    values = {}
    for channel, weight in ((0, 0.299), (1, 0.587), (2, 0.114)):
        img = torch.full((1, 3, 5, 5), 0.5)
        img[0, channel, 2, 2] = 1.0
        values[channel] = sharpness(img)[0]
        assert values[channel] == pytest.approx(spike_formula(0.5, 0.5 * weight), rel=1e-6)
    assert values[1] > values[0] > values[2]
    # A greyscale image is its own luminance: the RGB image equals its Y image.
    rgb = torch.rand(3, 3, 12, 10, generator=torch.Generator().manual_seed(0))
    y = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2])[:, None]
    np.testing.assert_allclose(sharpness(rgb), sharpness(y), rtol=1e-6)


def test_matches_a_loop_port_of_openimaj():
    y = torch.rand(2, 1, 9, 11, generator=torch.Generator().manual_seed(1)).double()
    y[1, 0, :4] = 0.0  # a black region exercises mu == 0
    expected = [openimaj_reference(y[i, 0].numpy()) for i in range(2)]
    np.testing.assert_allclose(sharpness(y), expected, rtol=1e-12)


def test_sharp_edge_beats_blurred_copy():
    edge = torch.full((1, 1, 16, 16), 0.2)
    edge[..., 8:] = 0.8
    blurred = F.avg_pool2d(F.pad(edge, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    s_edge, s_blur = sharpness(torch.cat([edge, blurred]))
    assert s_edge > 0 and s_blur > 0
    assert s_edge > 1.5 * s_blur


def test_sharpness_rejects_bad_input_and_summarises():
    with pytest.raises(ValueError):
        sharpness(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError):
        sharpness(torch.zeros(8, 8))
    with pytest.raises(FactorbenchError):
        sharpness(torch.full((1, 1, 8, 8), float("nan")))
    # uint8 input is read as /255; the value is the same as for the float image
    img = (torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(2)) * 255).round()
    np.testing.assert_allclose(sharpness(img.to(torch.uint8)), sharpness(img.double() / 255), rtol=1e-12)
    mean, std = sharpness_summary([0.1, 0.3])
    assert mean == pytest.approx(0.2) and std == pytest.approx(0.1)


# -- reconstruction classifier -------------------------------------------------------------

class CodeClassifier(nn.Module):
    """A stub: predicts class round(10 * pixel[0, 0, 0])."""

    def forward(self, x):
        return F.one_hot((x[:, 0, 0, 0] * 10).round().long(), 10).float()


def coded(codes):
    x = torch.zeros(len(codes), 1, 4, 4)
    x[:, 0, 0, 0] = torch.tensor(codes, dtype=torch.float32) / 10
    return x


def test_classifier_accuracies_with_a_stub():
    labels = np.array([0, 1, 2, 3])
    raw = coded([0, 1, 2, 0])    # predicted 0 1 2 0 -> raw acc 3/4
    recon = coded([0, 1, 3, 3])  # predicted 0 1 3 3 -> vs labels T T F T, vs raw T T F F
    acc = rc.classifier_accuracies(CodeClassifier(), raw, recon, labels, batch_size=3)
    assert acc == {"abs_acc": 0.75, "rel_acc": 0.5, "raw_acc": 0.75}
    with pytest.raises(ValueError):
        rc.classifier_accuracies(CodeClassifier(), raw, recon[:3], labels)


def test_classifier_shape_for_any_image_size():
    for shape in ((1, 28, 28), (3, 32, 32), (3, 13, 21)):
        net = rc.ReconClassifier(shape, 7, channels=(4, 8))
        assert net(torch.rand(2, *shape)).shape == (2, 7)


SMALL = rc.ClassifierSettings(channels=(16, 32), epochs=8, batch_size=32, lr=2e-3)  # ~3 s on 2 CPU cores


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """digits-rgb splits with a cache folder of their own, shared by this module's classifier
    tests (so the evaluator test reuses the classifier trained by the caching test)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACTORBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield get_dataset("digits-rgb", "train", n=1024), get_dataset("digits-rgb", "test", n=256)


def counting_trainer(monkeypatch):
    calls = []
    real = rc.train_classifier

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(rc, "train_classifier", counted)
    return calls


def test_trained_classifier_is_accurate_and_cached(digits, monkeypatch):
    train, test = digits
    rc.classifier_cache_path(rc.classifier_cache_key(train, "digit", SMALL, "cpu")).unlink(missing_ok=True)
    calls = counting_trainer(monkeypatch)
    clf, meta = rc.fixed_classifier(train, "digit", SMALL)
    assert meta["trained"] and meta["n_classes"] == 10 and len(calls) == 1
    path = meta["cache"]
    assert str(path).startswith(str(cache_root() / "classifiers"))
    acc = rc.classifier_accuracies(clf, test.images(), test.images(), test.labels("digit"))
    assert acc["raw_acc"] > 0.5  # chance is ~0.1
    assert acc["abs_acc"] == acc["raw_acc"] and acc["rel_acc"] == 1.0

    clf2, meta2 = rc.fixed_classifier(train, "digit", SMALL)
    assert not meta2["trained"] and len(calls) == 1 and meta2["cache"] == path
    for a, b in zip(clf.state_dict().values(), clf2.state_dict().values()):
        assert torch.equal(a, b)

    # Anything that changes the classifier changes the key: a new file, a new training.
    _, meta3 = rc.fixed_classifier(train, "digit", rc.ClassifierSettings(**{**SMALL.__dict__, "epochs": 1}))
    assert meta3["trained"] and meta3["cache"] != path and len(calls) == 2


def test_training_is_deterministic(digits):
    train, _ = digits
    settings = rc.ClassifierSettings(channels=(4, 8), epochs=1)
    a = rc.train_classifier(train.images()[:256], train.labels("digit")[:256], 10, settings)
    b = rc.train_classifier(train.images()[:256], train.labels("digit")[:256], 10, settings)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(x, y)


@pytest.mark.parametrize("garbage", [b"not a torch file", b""])
def test_corrupt_cache_is_rebuilt(digits, monkeypatch, garbage):
    train, _ = digits
    settings = rc.ClassifierSettings(channels=(4, 8), epochs=1)
    _, meta = rc.fixed_classifier(train, "digit", settings)
    with open(meta["cache"], "wb") as f:
        f.write(garbage)
    calls = counting_trainer(monkeypatch)
    _, meta2 = rc.fixed_classifier(train, "digit", settings)
    assert meta2["trained"] and len(calls) == 1
    _, meta3 = rc.fixed_classifier(train, "digit", settings)  # the rebuilt file loads
    assert not meta3["trained"] and len(calls) == 1


class Identity(GenerativeModel):
    def __init__(self, image_shape, noise=0.0):
        super().__init__(None, image_shape)
        self.noise = noise

    def reconstruct(self, x):
        return x + self.noise


def test_recon_acc_evaluator(digits, monkeypatch):
    train, test = digits
    monkeypatch.setattr(recon_acc, "DEFAULT_SETTINGS", SMALL)  # a fast classifier
    ctx = EvalContext(model=Identity(train.image_shape), train=train, test=test, batch_size=100)
    values = {v.metric: v.value for v in EVALUATORS.get("recon_acc")(ctx)}
    assert values["recon_cls_rel_acc"] == 1.0
    assert values["recon_cls_abs_acc"] == values["recon_cls_raw_acc"] > 0.5
    assert DIRECTIONS["recon_cls_raw_acc"] == "none" and DIRECTIONS["recon_cls_abs_acc"] == "higher"
    with pytest.raises(FactorbenchError, match="NaN"):
        EVALUATORS.get("recon_acc")(EvalContext(Identity(train.image_shape, float("nan")), train, test))
    with pytest.raises(FactorbenchError):
        EVALUATORS.get("recon_acc")(ctx, label="colour")


# -- variance across posterior samples -----------------------------------------------------

class LinearPosterior(GenerativeModel):
    """q(z|x) = N(x flattened, exp(logvar)), decode(z) = z reshaped as the image."""

    def __init__(self, image_shape, logvar, squash=False):
        super().__init__(None, image_shape)
        self.logvar = torch.as_tensor(logvar, dtype=torch.float32)
        self.squash = squash

    def encode(self, x):
        mu = x.flatten(1)
        return mu, self.logvar.expand_as(mu)

    def decode(self, z):
        out = z.view(-1, *self.image_shape)
        return torch.sigmoid(out) if self.squash else out


def test_posterior_variance_is_zero_without_posterior_noise():
    images = torch.rand(20, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    model = LinearPosterior((1, 4, 4), torch.full((16,), -60.0), squash=True)
    value = posterior_sample_variance(model, images, 10, torch.Generator().manual_seed(0), batch_size=8)
    assert 0.0 <= value < 1e-20


def test_posterior_variance_of_a_linear_decoder_is_the_summed_posterior_variance():
    # decode(z) = z, so Var_s[decode] per pixel = exp(logvar_d); summed: Σ_d exp(logvar_d).
    logvar = torch.linspace(-3.0, 0.5, 16)
    expected = float(torch.exp(logvar.double()).sum())  # ≈ 7.73
    images = torch.rand(2000, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    model = LinearPosterior((1, 4, 4), logvar)
    # Few samples (S = 5) so that a biased (1/S) variance would be 20% low; many images:
    # the sd of the estimate is ≈ sqrt(2/(S-1)) * sqrt(Σσ⁴) / sqrt(N) ≈ 0.05 (0.6%).
    value = posterior_sample_variance(model, images, 5, torch.Generator().manual_seed(3), batch_size=512)
    assert value == pytest.approx(expected, rel=0.03)
    again = posterior_sample_variance(model, images, 5, torch.Generator().manual_seed(3), batch_size=512)
    assert again == value  # same generator seed, same value
    with pytest.raises(FactorbenchError):
        posterior_sample_variance(model, images, 1)


def test_posterior_var_evaluator():
    arrays = {"image": np.zeros((50, 1, 4, 4), np.uint8), "count": np.ones(50, np.int64)}
    ds = ArrayDataset("toy", "test", arrays)
    model = LinearPosterior((1, 4, 4), torch.full((16,), math.log(0.25)))
    [value] = EVALUATORS.get("posterior_var")(EvalContext(model, ds, ds, seed=1), n_samples=30)
    assert value.metric == "posterior_sample_var" and DIRECTIONS[value.metric] == "none"
    assert value.value == pytest.approx(16 * 0.25, rel=0.1)
    assert value.protocol["n_samples"] == 30
    nan_model = LinearPosterior((1, 4, 4), torch.full((16,), float("nan")))
    with pytest.raises(FactorbenchError, match="NaN"):
        EVALUATORS.get("posterior_var")(EvalContext(nan_model, ds, ds))


def test_sharpness_evaluator_scores_reconstructions():
    img = np.zeros((3, 1, 5, 5), np.uint8)
    img[:, 0, 2, 2] = 255
    ds = ArrayDataset("toy", "test", {"image": img, "count": np.ones(3, np.int64)})
    [value] = EVALUATORS.get("sharpness")(EvalContext(Identity((1, 5, 5)), ds, ds))
    assert value.metric == "sharpness" and DIRECTIONS["sharpness"] == "higher"
    assert value.value == pytest.approx(54 / 25)  # a black image with one bright pixel, as above
    assert value.protocol["n_images"] == 3 and value.protocol["std_over_images"] == pytest.approx(0.0)
