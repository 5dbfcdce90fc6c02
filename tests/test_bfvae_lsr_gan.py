"""BFVAE + LSR-GAN (§5.3.1, eq. 5.5): bfvae -> bfvae_ef (E'_f) -> bfvae_lsr_gan, frozen stages."""

import numpy as np
import pytest
import torch

from factorbench.data import get_dataset
from factorbench.errors import FactorbenchError
from factorbench.evaluators import EVALUATORS, EvalContext
from factorbench.evaluators.factor_swap import flat_backgrounds, swap_errors
from factorbench.models.bfvae.two_codes import TwoCodeModel
from factorbench.models import build_model
from factorbench.models.lsr_gan.model import gaussian_log_density
from factorbench.train import TrainConfig, TrainRun, load_model, train

ARCH = {"zf_dim": 4, "zb_dim": 4, "base_channels": 4, "backbone": "resnet"}
GAN = {**ARCH, "gan_base_channels": 4, "lsr_lambda": 1.0}
SHAPE = (3, 64, 64)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run(model, out, config, source=None, seed=1):
    return TrainRun(model, dict(config), "shapes-fb", out, seed=seed, train=TrainConfig(epochs=1, batch_size=16),
                    dataset_n=32, init_from=source)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain")
    train(run("bfvae", root / "bfvae", ARCH), progress=False)
    train(run("bfvae_ef", root / "ef", ARCH, root / "bfvae", seed=2), progress=False)
    return root


def test_ef_trains_only_the_whole_image_encoder(chain):
    bfvae, ef = load_model(chain / "bfvae"), load_model(chain / "ef")
    for name, value in bfvae.state_dict().items():
        assert torch.equal(ef.state_dict()[name], value), f"frozen BFVAE part changed: {name}"
    fresh = build_model("bfvae_ef", ARCH, SHAPE)
    trained_fx, fresh_fx = ef.encoder_fx.state_dict(), fresh.encoder_fx.state_dict()
    assert any(not torch.equal(trained_fx[k], fresh_fx[k]) for k in trained_fx)
    # E'_f reads the whole image: no mask needed for codes, swaps or backgrounds
    x = torch.rand(3, *SHAPE)
    ef.eval()
    assert ef.encode_parts(x)["zf_mu"].shape == (3, 4)
    assert ef.swap(x, x[:2]).shape == (2, 3, *SHAPE)


def test_gan_stage_keeps_encoders_frozen_and_reloads(tmp_path, chain):
    model = train(run("bfvae_lsr_gan", tmp_path / "gan", {**GAN, "init_generator": True}, chain / "ef", seed=3),
                  progress=False)
    ef = load_model(chain / "ef")
    for name, value in ef.state_dict().items():
        assert torch.equal(model.encoders.state_dict()[name], value), f"frozen encoder changed: {name}"
    reloaded = load_model(tmp_path / "gan")
    x = torch.rand(2, *SHAPE)
    assert torch.equal(reloaded.swap(x, x), model.eval().swap(x, x))
    assert reloaded.sample(2, torch.Generator().manual_seed(0)).shape == (2, *SHAPE)


def test_eq_5_5_latent_term_and_its_gradient(chain):
    model = build_model("bfvae_lsr_gan", {**GAN, "lsr_lambda": 0.5}, SHAPE)
    model.init_from_pretrained(load_model(chain / "ef"))
    model.train()
    z = torch.randn(4, 8)
    fake = model.generator(z)
    term = model.extra_generator_losses(z, fake)["lsr"]
    mu_b, lv_b = model.encoders.encode_background(fake)
    mu_f, lv_f = model.encoders.foreground_code(fake)
    expected = -0.5 * (gaussian_log_density(z[:, :4], mu_b, lv_b) + gaussian_log_density(z[:, 4:], mu_f, lv_f)).mean()
    assert torch.allclose(term, expected, rtol=1e-5)
    model.training_step({"image": torch.rand(4, *SHAPE)}, "generator")["loss"].backward()
    assert all(p.grad is None for p in model.encoders.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())
    assert not model.encoders.training


def test_init_generator_starts_from_d_b(chain):
    model = build_model("bfvae_lsr_gan", {**GAN, "init_generator": True}, SHAPE)
    ef = load_model(chain / "ef")
    model.init_from_pretrained(ef)
    z = torch.randn(2, 8)
    assert torch.allclose(model.eval().generator(z), ef.eval().decoder_b(z), atol=1e-6)


def test_new_training_scheme_shares_one_code_per_half():
    model = build_model("bfvae_lsr_gan", {**GAN, "new_training_scheme": True}, SHAPE).train()
    z = model.sample_latents(6, "cpu")
    zb, zf = z[:, :4], z[:, 4:]
    assert torch.equal(zf[0], zf[1]) and torch.equal(zf[1], zf[2]) and not torch.equal(zb[0], zb[1])
    assert torch.equal(zb[3], zb[5]) and not torch.equal(zf[3], zf[4])
    plain = build_model("bfvae_lsr_gan", GAN, SHAPE).train().sample_latents(6, "cpu")
    assert not torch.equal(plain[0, 4:], plain[1, 4:])


def test_stages_refuse_to_start_without_their_source(tmp_path, chain):
    with pytest.raises(FactorbenchError, match="bfvae_ef is trained on top of a bfvae"):
        train(run("bfvae_ef", tmp_path / "ef", ARCH), progress=False)
    with pytest.raises(FactorbenchError, match="stage 1 must be a bfvae_ef"):
        build_model("bfvae_lsr_gan", GAN, SHAPE).init_from_pretrained(load_model(chain / "bfvae"))
    with pytest.raises(FactorbenchError, match="zf_dim"):
        build_model("bfvae_lsr_gan", {**GAN, "zf_dim": 5}, SHAPE).init_from_pretrained(load_model(chain / "ef"))
    with pytest.raises(FactorbenchError, match="init_generator"):
        build_model("bfvae_lsr_gan", {**GAN, "init_generator": True, "gan_base_channels": 8}, SHAPE)


class OracleTwoCodes(TwoCodeModel, torch.nn.Module):
    """z_f = the object and its mask, z_b = the flat background colour: a perfect factoriser."""

    name = "oracle"

    def __init__(self, shape, ignore_background=False):
        super().__init__()
        self.shape, self.ignore_background = shape, ignore_background
        self.config = type("C", (), {})()

    def foreground_code(self, x, mask=None, labels=None):
        z = torch.cat([x * mask, mask], dim=1).flatten(1)
        return z, torch.zeros_like(z)

    def encode_background(self, x):
        mask = self._mask
        z = flat_backgrounds(x, mask).flatten(1)
        return z, torch.zeros_like(z)

    def blank_foreground_code(self):
        return torch.zeros(1, (self.shape[0] + 1) * self.shape[1] * self.shape[2])

    def decode_parts(self, z_b, z_f):
        c, h, w = self.shape
        both = z_f.view(-1, c + 1, h, w)
        f, m = both[:, :c], both[:, c:]
        bg = torch.zeros_like(f) if self.ignore_background else z_b.view(-1, c, 1, 1).expand_as(f)
        return f * m + bg * (1 - m)


def test_swap_errors_are_zero_for_a_perfect_factoriser_and_not_otherwise():
    ds = get_dataset("shapes-fb", "test", n=6)
    batch = ds.batch(np.arange(6))
    x, mask = batch["image"], batch["mask"]
    oracle = OracleTwoCodes(x.shape[1:])
    oracle._mask = mask
    errors = swap_errors(oracle, x, mask)
    assert errors["background_mse"] < 1e-10 and errors["swap_mse"] < 1e-10 and errors["swap_mse_same"] < 1e-10
    blind = OracleTwoCodes(x.shape[1:], ignore_background=True)
    blind._mask = mask
    errors = swap_errors(blind, x, mask)
    assert errors["swap_mse"] > 0.01 and errors["background_mse"] > 0.01


def test_factor_swap_and_model_cost_evaluators(tmp_path, chain):
    model = load_model(chain / "ef").requires_grad_(True)  # evaluators must not need frozen weights
    test = get_dataset("shapes-fb", "test", n=16)
    ctx = EvalContext(model, test, test, figures=tmp_path / "fig", checkpoint=chain / "ef", batch_size=8)
    values = {v.metric: v.value for v in EVALUATORS.get("factor_swap")(ctx, n=16, n_figure=4)}
    assert set(values) == {"background_mse", "swap_mse", "swap_mse_same"}
    assert all(np.isfinite(v) and v >= 0 for v in values.values())
    for name in ("swap.png", "background.png", "interpolation.png", "pca_zb_bg_colour.png", "pca_zb_shape.png"):
        assert (tmp_path / "fig" / name).stat().st_size > 0, name
    cost = {v.metric: v.value for v in EVALUATORS.get("model_cost")(ctx)}
    assert cost["model_size_mb"] == pytest.approx((chain / "ef" / "model.pt").stat().st_size / 1e6)
    assert cost["n_parameters_m"] == pytest.approx(sum(p.numel() for p in model.parameters()) / 1e6)
    assert 0 < cost["train_seconds"] < cost["train_seconds_total"]  # E'_f plus its BFVAE stage


def test_object_addition_figure_on_a_multi_object_set(tmp_path, chain):
    """Fig 5.7: with per-object masks (shapes2d-rgb) factor_swap adds objects one at a time."""
    model = load_model(chain / "bfvae")
    scenes = get_dataset("shapes2d-rgb", "test", n=8)
    ctx = EvalContext(model, scenes, scenes, figures=tmp_path, batch_size=8)
    EVALUATORS.get("factor_swap")(ctx, n=8, n_figure=2, pca_labels=["bg_colour"])
    assert (tmp_path / "addition.png").stat().st_size > 0 and (tmp_path / "pca_zb_bg_colour.png").exists()
    assert not (tmp_path / "pca_zb_shape.png").exists()  # only the labels asked for
