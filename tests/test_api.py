"""The Python API (``import factorbench as fb``): lazy imports, inputs, one feature pass, streaming FID.

Inception on a shared CPU is slow, so the feature tests use 10 images per side and share
one Inception (module fixture) and one ``image_metrics`` result.
"""

import subprocess
import sys

import numpy as np
import pytest
import torch

import factorbench as fb
from factorbench.api.inputs import eval_size, resolve_pair, resolve_side
from factorbench.errors import FactorbenchError
from factorbench.metrics import fid as fid_module
from factorbench.metrics.fid import save_stats_npz, Stats
from factorbench.metrics.image_sources import Images

N = 10


def test_importing_factorbench_and_its_help_do_not_import_torch():
    code = ("import sys, factorbench as fb; fb.__version__; fb.Result; assert 'torch' not in sys.modules, 'api';"
            "sys.argv = ['factorbench', '--help']\n"
            "from factorbench.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'cli'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    assert set(fb.__all__) >= {"fid", "kid", "precision_recall", "image_metrics", "FID", "sharpness",
                               "average_precision", "count_errors", "probe", "load", "evaluate",
                               "register_model", "register_metric", "register_dataset"}
    with pytest.raises(AttributeError):
        fb.no_such_name


# ------------------------------------------------------------------------------ inputs (no Inception)
def test_every_input_form_becomes_images_with_the_other_sides_count():
    real = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    calls = []

    def generate(k):
        calls.append(k)
        return torch.rand(k, 3, 8, 8)

    f, r = resolve_pair(generate, real, batch_size=4)
    assert isinstance(f, Images) and f.n == 6 and not f.quantised and calls == [4, 2]
    batches = (torch.rand(2, 1, 8, 8) for _ in range(3))
    side = resolve_side(batches, "fake")
    assert side.n == 6 and side.data.shape[1] == 1 and side.source["kind"] == "batches"
    assert resolve_side(real.numpy(), "real", n=4).n == 4

    class Sampler:  # what fb.load returns, as far as images are concerned
        name = "toy"

        def eval(self):
            return self

        def sample(self, k, generator=None):
            return torch.rand(k, 3, 8, 8, generator=generator)

    f, _ = resolve_pair(Sampler(), real, batch_size=4, seed=3)
    again, _ = resolve_pair(Sampler(), real, batch_size=4, seed=3)
    assert f.n == 6 and f.source == {"kind": "model", "model": "toy", "sampling": "random", "seed": 3, "n": 6}
    assert torch.equal(f.data, again.data)  # seeded
    assert eval_size(None, f, r) == 8


@pytest.mark.parametrize("images, message", [
    (torch.rand(4, 8, 8, 3), "channels last"),
    (torch.rand(4, 3, 8, 8) * 2, r"float images must be in \[0, 1\]"),
    (torch.zeros(4, 3, 8, 8, dtype=torch.int16), "uint8 in"),
    (torch.full((4, 3, 8, 8), float("nan")), "NaN or inf"),
    ([], "no images"),
    (42, "cannot read images from a int"),
])
def test_bad_images_are_one_clear_error(images, message):
    with pytest.raises(FactorbenchError, match=message):
        resolve_side(images, "fake")


def test_sizes_must_agree_unless_given_and_callables_need_a_count():
    a, b = Images(torch.rand(3, 3, 8, 8)), Images(torch.rand(3, 3, 16, 16))
    with pytest.raises(FactorbenchError, match="pass size="):
        eval_size(None, a, b)
    assert eval_size(12, a, b) == 12
    with pytest.raises(FactorbenchError, match="pass n="):
        resolve_side(lambda k: torch.rand(k, 3, 8, 8), "fake")


def test_fid_of_two_statistics_files_is_the_frechet_distance(tmp_path):
    sigma = np.diag([1.0, 2.0, 3.0])
    a = save_stats_npz(tmp_path / "a.npz", Stats(np.zeros(3), sigma, 10))
    b = save_stats_npz(tmp_path / "b.npz", Stats(np.array([1.0, 2.0, 2.0]), sigma, 10))
    result = fb.fid(a, b, size=32)
    assert result.value == pytest.approx(9.0, abs=1e-9)  # same covariance: only |mu_a - mu_b|^2 remains
    assert result.metric == "fid_saved" and result.to_record()["protocol"]["image_size"] == 32
    with pytest.raises(FactorbenchError, match="pass size="):
        fb.fid(a, b)
    with pytest.raises(FactorbenchError, match="need images on both sides"):
        fb.kid(a, b, size=32)


def test_a_statistics_file_made_under_another_protocol_is_refused(tmp_path):
    """The API refuses what `run fid` refuses: a saved-mode file scored in direct mode."""
    from factorbench.metrics.fid import RESIZE_TO_299, WEIGHTS_SHA1

    sigma = np.diag([1.0, 2.0, 3.0])
    stored = {"mode": "saved", "image_size": 32, "resize_to_299": RESIZE_TO_299["saved"], "extractor_sha1": WEIGHTS_SHA1}
    a = save_stats_npz(tmp_path / "a.npz", Stats(np.zeros(3), sigma, 10, protocol=stored))
    b = save_stats_npz(tmp_path / "b.npz", Stats(np.ones(3), sigma, 10))
    assert fb.fid(a, b, size=32, mode="saved").value == pytest.approx(3.0, abs=1e-9)
    with pytest.raises(FactorbenchError, match="computed under another protocol: mode 'saved'"):
        fb.fid(a, b, size=32, mode="direct")


# ------------------------------------------------------------------------------ scores (no Inception)
def test_scores_wrap_the_metrics():
    flat = torch.full((3, 3, 16, 16), 0.5)
    assert fb.sharpness(flat).value == 0.0  # a constant image scores exactly 0
    boxes = [np.array([[0.0, 0.0, 10.0, 10.0]])]
    ap = fb.average_precision(boxes, [np.array([0.9])], boxes, protocol="space")
    assert ap.value == 1.0 and ap.metric == "ap_space" and len(ap.protocol["ap_per_threshold"]) == 10
    errors = fb.count_errors([1, 2, 3], [1, 2, 5])
    assert errors.count_error_abs.value == pytest.approx(2 / 3) and errors["count_error_01"].value == pytest.approx(1 / 3)
    z = np.random.default_rng(0).normal(size=(80, 3))
    y = (z[:, 0] > 0).astype(int)
    probe = fb.probe(z[:60], y[:60], z[60:], y[60:], kind="linear")
    assert probe.test_acc.value > 0.8 and probe.chance.value >= 0.5
    with pytest.raises(FactorbenchError, match="unknown probe kind"):
        fb.probe(z, y, z, y, kind="svm")


# ------------------------------------------------------------------------------ Inception
@pytest.fixture(scope="module")
def inception():
    from factorbench.metrics.inception import get_extractor

    return get_extractor("cpu")  # loaded once for the module (and cached for the process)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, 4, 4, generator=g)
    fake = (torch.nn.functional.interpolate(base, size=32, mode="bilinear") + 0.2 * torch.rand(N, 3, 32, 32, generator=g))
    real = (torch.rand(N, 3, 32, 32, generator=g) * 255).to(torch.uint8)
    return fake.clamp(0, 1), real


@pytest.fixture(scope="module")
def metrics_and_calls(inception, images):
    """One ``image_metrics`` call, counting the feature passes it makes."""
    fake, real = images
    calls = []
    original = fid_module.extract_features

    def counting(imgs, *args, **kwargs):
        calls.append(imgs.n)
        return original(imgs, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fid_module, "extract_features", counting)
        result = fb.image_metrics(fake, real, mode="saved", batch_size=4, kid_subsets=5, device="cpu")
    return result, calls


def test_image_metrics_make_one_feature_pass_per_side(metrics_and_calls):
    result, calls = metrics_and_calls
    assert calls == [N, N]  # fake once, real once, for FID, KID and precision/recall together
    assert set(result) == {"fid", "kid", "precision", "recall"}
    assert result.fid.metric == "fid_saved" and result.fid.value > 0
    assert result.kid.std is not None and result.kid.protocol["kid_subsets"] == 5
    for key in ("precision", "recall"):
        assert 0.0 <= result[key].value <= 1.0 and result[key].protocol["prc_k"] == 3
    records = result.to_records()
    assert [r["metric"] for r in records] == ["fid_saved", "kid_saved", "precision_saved", "recall_saved"]


def test_streaming_fid_equals_fid_to_1e9_relative(metrics_and_calls, images):
    fake, real = images
    metric = fb.FID(mode="saved", batch_size=4, device="cpu")
    metric.update(fake[:3], real=False)  # uneven batches: buffered into the same chunks of 4
    metric.update([fake[3:7], fake[7:]], real=False)
    for start in range(0, N, 5):
        metric.update(real[start:start + 5].numpy(), real=True)
    streamed = metric.compute()
    expected = metrics_and_calls[0].fid.value
    assert streamed.value == pytest.approx(expected, rel=1e-9)
    reference = metrics_and_calls[0].fid.protocol
    assert streamed.protocol["n_fake"] == N and streamed.protocol["real"]["source"]["kind"] == "stream"
    for side in ("fake", "real"):  # the same rounding steps as fb.fid states
        assert streamed.protocol[side]["quantisation"] == reference[side]["quantisation"]

    mixed = fb.FID(batch_size=4, device="cpu")
    mixed.update(torch.rand(2, 3, 16, 16), real=False)  # buffered, no Inception yet
    with pytest.raises(FactorbenchError, match="differ in size"):
        mixed.update(real[:2], real=True)
    with pytest.raises(FactorbenchError, match="earlier ones were"):
        mixed.update(real[:2, :, :16, :16], real=False)


def test_evaluator_params_reach_an_evaluator_that_shares_a_name_with_evaluate():
    """fb.evaluate's own n_test sizes the split; an evaluator's n_test goes in evaluator_params."""
    from factorbench.evaluators import EVALUATORS
    from factorbench.models import MODELS

    seen = {}

    @fb.register_metric("test_api_shared_names")
    def shared(ctx, n_test=99, dataset="none"):
        seen.update(n_test=n_test, dataset=dataset, split=len(ctx.test))
        return 0.0

    try:
        vae = MODELS.get("vae")
        model = vae(vae.config_class(latent_dim=4, base_channels=4), (3, 32, 32))
        fb.evaluate(model, "test_api_shared_names", dataset="digits-rgb", n_train=8, n_test=6,
                    evaluator_params={"n_test": 3, "dataset": "shapes-fb"}, device="cpu")
        assert seen == {"n_test": 3, "dataset": "shapes-fb", "split": 6}
    finally:
        EVALUATORS._items.pop("test_api_shared_names", None)
