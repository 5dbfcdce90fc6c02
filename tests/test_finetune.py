"""Fine-tuning (§4.4.2): starts from the source weights, reuses derived runs, ELBO by hand;
the derived runs are a stage trained before the evaluator, which only loads them."""

import math

import pytest
import torch
from torch import nn

from factorbench.data import get_dataset
from factorbench.data.convert import convert_dataset
from factorbench.errors import FactorbenchError
from factorbench.metrics.elbo import negative_elbo
from factorbench.evaluators import EVALUATORS, EvalContext
from factorbench.models.derived import DerivedRun, FinetuneSettings, load_derived
from factorbench.train.derived import derived_run, train_derived
from factorbench.models.vae.config import VAEConfig
from factorbench.train import TrainConfig, TrainRun, load_model, train
from factorbench.models.checkpoint import TRAINER_FILE

SOURCE_MODEL = {"latent_dim": 4, "base_channels": 4, "backbone": "conv3"}
SETTINGS = FinetuneSettings(n_train=20, epochs=2, batch_size=10, n_test=16)


def _source(folder, **model):
    run = TrainRun("vae", {**SOURCE_MODEL, **model}, "multi-dsprites", folder, seed=3,
                   train=TrainConfig(epochs=1, batch_size=16), dataset_n=32)
    train(run, progress=False)
    return folder


@pytest.fixture(scope="module")
def frozen_source(tmp_path_factory):
    """A source trained with lr = 0: its weights are its initialisation, and any fine-tune
    from it keeps them (Adam with lr 0 moves nothing), while a new run gets its own."""
    return _source(tmp_path_factory.mktemp("src") / "frozen", lr=0.0)


def derived_model(source, target, settings, variant):
    """The derived-run stage, then the load an evaluator does: (model, folder)."""
    run = DerivedRun(variant, target, settings)
    train_derived(source, [run])
    return load_derived(source, run)


def _params(model):
    return {k: v for k, v in model.named_parameters()}


def test_finetune_starts_from_the_source_weights(frozen_source):
    source = load_model(frozen_source)
    tuned, _ = derived_model(frozen_source, "shapes-fb", SETTINGS, "vae-tune")
    new, _ = derived_model(frozen_source, "shapes-fb", SETTINGS, "vae-new")
    src, tun, nw = _params(source), _params(tuned), _params(new)
    assert all(torch.equal(src[k], tun[k]) for k in src), "VAE-Tune must start from (here: keep) the source weights"
    assert not all(torch.equal(src[k], nw[k]) for k in src), "VAE-New must be a fresh initialisation"


def test_finetune_moves_away_from_the_source_with_a_learning_rate(tmp_path):
    src_folder = _source(tmp_path / "src")
    source = load_model(src_folder)
    tuned, folder = derived_model(src_folder, "shapes-fb", SETTINGS, "vae-tune")
    new, _ = derived_model(src_folder, "shapes-fb", SETTINGS, "vae-new")
    dist = lambda a, b: sum(float((a[k] - b[k]).detach().pow(2).sum()) for k in a)  # noqa: E731
    assert 0 < dist(_params(source), _params(tuned)) < dist(_params(source), _params(new))
    # the derived run is converted to the source's shape and stored beneath it
    assert folder.parent.parent == src_folder and tuned.image_shape == source.image_shape


def test_derived_runs_are_reused_not_retrained(frozen_source):
    derived_model(frozen_source, "shapes-fb", SETTINGS, "vae-tune")
    folder = derived_run(frozen_source, DerivedRun("vae-tune", "shapes-fb", SETTINGS)).out
    stamp = (folder / TRAINER_FILE).stat().st_mtime_ns
    derived_model(frozen_source, "shapes-fb", SETTINGS, "vae-tune")
    assert (folder / TRAINER_FILE).stat().st_mtime_ns == stamp
    other = derived_run(frozen_source, DerivedRun("vae-tune", "shapes-fb", FinetuneSettings(n_train=30, epochs=2,
                                                                                             batch_size=10)))
    assert other.out != folder


def test_init_from_rejects_a_different_architecture_or_unfinished_source(tmp_path, frozen_source):
    run = TrainRun("vae", {**SOURCE_MODEL, "latent_dim": 5}, "shapes-fb", tmp_path / "a", seed=0,
                   train=TrainConfig(epochs=1, batch_size=10), dataset_n=20, init_from=frozen_source)
    with pytest.raises(FactorbenchError, match="do not match"):
        train(run, progress=False)
    run = TrainRun("vae", dict(SOURCE_MODEL), "digits-rgb", tmp_path / "b", seed=0,
                   train=TrainConfig(epochs=1, batch_size=10), dataset_n=20, init_from=frozen_source)
    with pytest.raises(FactorbenchError, match="image shape"):
        train(run, progress=False)
    (tmp_path / "c").mkdir()
    with pytest.raises(FactorbenchError, match="not a checkpoint folder"):
        derived_run(tmp_path / "c", DerivedRun("vae-tune", "shapes-fb", SETTINGS))


def test_convert_dataset_keeps_labels_and_drops_geometry():
    ds = get_dataset("multi-digits", "test", n=8)
    out = convert_dataset(ds, (3, 32, 32))
    assert out.image_shape == (3, 32, 32) and out.arrays["image"].dtype.name == "uint8"
    assert (out.labels("sum") == ds.labels("sum")).all()
    assert "boxes" not in out.arrays and out.info["converted_from"] == [1, 64, 64]
    assert convert_dataset(ds, ds.image_shape) is ds


class ConstantVAE(nn.Module):
    """encode -> (μ = 0, logvar = 0): KL = 0 exactly; decode -> 0.5 everywhere."""

    def __init__(self, likelihood, shape=(1, 2, 2)):
        super().__init__()
        self.config = VAEConfig(likelihood=likelihood)
        self.image_shape = shape

    def encode(self, x):
        return torch.zeros(len(x), 3), torch.zeros(len(x), 3)

    def decode(self, z):
        return torch.full((len(z), *self.image_shape), 0.5)

    from factorbench.models.vae.model import VAE
    dataset_nll = VAE.dataset_nll


def test_negative_elbo_known_values():
    x = torch.tensor([[[[0.0, 1.0], [0.5, 0.5]]], [[[1.0, 1.0], [1.0, 1.0]]]])  # SSE to 0.5: 0.5 and 1.0
    const = negative_elbo(ConstantVAE("constant"), x, batch_size=1)
    assert const["kl"] == 0 and const["nll"] == pytest.approx(0.75) and const["nelbo"] == pytest.approx(0.75)
    assert const["recon_mse"] == pytest.approx(0.75)
    emp = negative_elbo(ConstantVAE("empirical"), x, batch_size=1)
    variance = 1.5 / 8  # the set's Σ SSE over N·D values
    assert emp["nelbo"] == pytest.approx(0.5 * 4 * (math.log(2 * math.pi * variance) + 1))
    with pytest.raises(FactorbenchError, match="shape"):
        negative_elbo(ConstantVAE("constant"), torch.zeros(1, 1, 3, 3))


def test_the_finetune_evaluator_trains_nothing(tmp_path):
    """Without the derived-run stage the evaluator refuses in one line and no run appears."""
    source = _source(tmp_path / "untuned")
    params = {"targets": ["shapes-fb"], "n_train": 20, "epochs": 2, "batch_size": 10, "n_test": 16}
    ctx = EvalContext(load_model(source), None, None, checkpoint=source)
    with pytest.raises(FactorbenchError, match="not trained"):
        EVALUATORS.get("finetune")(ctx, **params)
    assert not (source / "derived").exists()
    runs = EVALUATORS.get("finetune").derived(params)
    assert [(r.variant, r.target) for r in runs] == [("vae-tune", "shapes-fb"), ("vae-new", "shapes-fb")]


def test_finetune_evaluator_reports_per_target_values_and_figures(tmp_path, frozen_source):
    ctx = EvalContext(load_model(frozen_source), None, None, figures=tmp_path / "fig", checkpoint=frozen_source)
    params = {"targets": ["shapes-fb"], "n_train": 20, "epochs": 2, "batch_size": 10, "n_test": 16}
    train_derived(frozen_source, EVALUATORS.get("finetune").derived(params))  # the stage before the evaluator
    values = EVALUATORS.get("finetune")(ctx, **params)
    by_name = {v.metric: v for v in values}
    assert set(by_name) == set(EVALUATORS.get("finetune").outputs) and all(v.target == "shapes-fb" for v in values)
    assert by_name["tune_gain_test_nelbo"].value == pytest.approx(
        by_name["vae_new_test_nelbo"].value - by_name["vae_tune_test_nelbo"].value)
    assert len(by_name["vae_tune_test_nelbo"].protocol["train_nelbo_per_epoch"]["vae-tune"]) == 2
    for name in ("finetune-shapes-fb-elbo.png", "finetune-shapes-fb-elbo.csv", "finetune-shapes-fb-recon.png"):
        assert (tmp_path / "fig" / name).stat().st_size > 0
    with pytest.raises(FactorbenchError, match="checkpoint"):
        EVALUATORS.get("finetune")(EvalContext(ctx.model, None, None), targets=["shapes-fb"])


def test_transfer_latent_evaluator_values_and_figures(tmp_path, frozen_source):
    ctx = EvalContext(load_model(frozen_source), None, None, figures=tmp_path)
    targets = ["multi-dsprites", "multi-digits"]
    values = EVALUATORS.get("transfer_latent")(ctx, targets=targets, n_per_dataset=20, perplexity=5)
    assert sorted({(v.metric, v.target) for v in values}) == sorted(
        (m, t) for m in EVALUATORS.get("transfer_latent").outputs for t in targets)
    for name in ("tsne.png", "pca.png", "reconstructions.png"):
        assert (tmp_path / name).stat().st_size > 0
    with pytest.raises(FactorbenchError, match="two distinct"):
        EVALUATORS.get("transfer_latent")(ctx, targets=["multi-digits"], n_per_dataset=20)
