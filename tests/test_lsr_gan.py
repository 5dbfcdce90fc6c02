"""LSR-GAN (§3.2.1): two stages, a frozen encoder, eq. 3.3's latent term, spec wiring."""

import textwrap

import pytest
import torch

from factorbench.bench.spec import load_spec
from factorbench.data import get_dataset
from factorbench.errors import FactorbenchError
from factorbench.models import build_model
from factorbench.models.lsr_gan.model import gaussian_log_density
from factorbench.train import TrainConfig, TrainRun, load_model, train

VAE = {"latent_dim": 8, "base_channels": 8, "backbone": "resnet"}
LSR = {"latent_dim": 8, "base_channels": 8, "vae_backbone": "resnet", "vae_base_channels": 8, "lsr_lambda": 1.0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vae") / "vae"
    train(TrainRun("vae", dict(VAE), "digits-rgb", folder, seed=1, train=TrainConfig(epochs=1, batch_size=16),
                   dataset_n=64), progress=False)
    return folder


def lsr_run(out, source, **config):
    return TrainRun("lsr_gan", {**LSR, **config}, "digits-rgb", out, seed=2, train=TrainConfig(epochs=1, batch_size=16),
                    dataset_n=64, init_from=source)


def test_gaussian_log_density_matches_torch():
    z, mu, logvar = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    expected = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(dim=1)
    assert torch.allclose(gaussian_log_density(z, mu, logvar), expected, atol=1e-5)


def test_stage2_keeps_the_vae_frozen_and_trains_the_generator(tmp_path, stage1):
    vae = load_model(stage1)
    model = train(lsr_run(tmp_path / "lsr", stage1), progress=False)
    for (name, p), (_, q) in zip(model.vae.state_dict().items(), vae.state_dict().items()):
        assert torch.equal(p, q), f"frozen VAE changed: {name}"
    reloaded = load_model(tmp_path / "lsr")
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(reloaded.reconstruct(x), model.eval().reconstruct(x))
    assert reloaded.sample(3, torch.Generator().manual_seed(0)).shape == (3, 3, 32, 32)


def test_lsr_gradient_reaches_the_generator_not_the_encoder(stage1):
    model = build_model("lsr_gan", LSR, (3, 32, 32))
    model.init_from_pretrained(load_model(stage1))
    model.train()
    losses = model.training_step({"image": torch.rand(8, 3, 32, 32)}, "generator")
    losses["loss"].backward()
    assert all(p.grad is None for p in model.vae.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())
    assert not model.vae.training, "the frozen encoder stays in eval mode (stage-1 BatchNorm statistics)"
    # the latent term alone moves the generator: its gradient is non-zero with λ > 0
    model.zero_grad()
    z = torch.randn(8, 8)
    model.extra_generator_losses(z, model.generator(z))["lsr"].backward()
    assert sum(float(p.grad.abs().sum()) for p in model.generator.parameters() if p.grad is not None) > 0


def test_generator_can_start_from_the_vae_decoder(stage1):
    model = build_model("lsr_gan", {**LSR, "init_generator": True}, (3, 32, 32))
    vae = load_model(stage1)
    model.init_from_pretrained(vae)
    z = torch.randn(2, 8)
    assert torch.equal(model.eval().decode(z), vae.decode(z))


def test_stage2_needs_a_matching_stage1(tmp_path, stage1):
    with pytest.raises(FactorbenchError, match="stage-1 VAE"):
        build_model("lsr_gan", LSR, (3, 32, 32)).training_step({"image": torch.rand(2, 3, 32, 32)}, "generator")
    with pytest.raises(FactorbenchError, match="latent_dim"):
        train(lsr_run(tmp_path / "a", stage1, latent_dim=6), progress=False)
    with pytest.raises(FactorbenchError, match="init_generator"):
        build_model("lsr_gan", {**LSR, "init_generator": True, "vae_backbone": "conv"}, (3, 32, 32))


def test_spec_pretrain_shares_the_stage1_cell(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(textwrap.dedent("""
        name = "t"
        title = "t"
        [base]
        models = ["vae", "lsr_gan"]
        metrics = ["recon_mse"]
        dataset = { name = "digits-rgb" }
        model = { latent_dim = 8, base_channels = 8, backbone = "resnet" }
        model_overrides = { lsr_gan = { vae_backbone = "resnet", vae_base_channels = 8 } }
        train_overrides = { lsr_gan = { epochs = 3 } }
        pretrain = { lsr_gan = "vae" }
        grid = { beta = [0.5, 2.0] }
        seeds = 2
        [presets.ci]
        [table]
        rows = "beta"
        columns = ["recon_mse"]
    """))
    cells = load_spec(str(path)).cells("ci")
    vae = {(c.grid["beta"], c.seed): c for c in cells if c.model == "vae"}
    lsr = [c for c in cells if c.model == "lsr_gan"]
    assert len(lsr) == 4 and all("beta" not in c.model_config and c.train.epochs == 3 for c in lsr)
    for c in lsr:
        assert c.init_from.id == vae[(c.grid["beta"], c.seed)].id  # trained once, used by both rows
    assert len({c.id for c in lsr}) == 4  # β reaches the LSR-GAN's id through its stage 1
    path.write_text(path.read_text().replace('backbone = "resnet" }', 'backbone = "resnet", latnt_dim = 3 }'))
    with pytest.raises(FactorbenchError, match="latnt_dim"):
        load_spec(str(path)).cells("ci")


@pytest.mark.parametrize("name", ["dcgan", "sngan", "lsr_gan"])
def test_each_gan_phase_lowers_its_own_loss_on_a_fixed_batch(name, stage1):
    """With the other network held still, 15 steps of one phase lower that phase's loss."""
    config = dict(LSR) if name == "lsr_gan" else {"latent_dim": 8, "base_channels": 8}
    torch.manual_seed(0)
    model = build_model(name, config, (3, 32, 32))
    if name == "lsr_gan":
        model.init_from_pretrained(load_model(stage1))
    model.train()
    optimizers = model.make_optimizers()
    batch = {"image": get_dataset("digits-rgb", "train", n=16).images()}
    for phase, optimizer in (("discriminator", "d"), ("generator", "g")):
        losses = []
        for _ in range(15):
            torch.manual_seed(1)  # the same z every step: a fixed objective
            optimizers[optimizer].zero_grad()
            loss = model.training_step(batch, phase)["loss"]
            loss.backward()
            optimizers[optimizer].step()
            losses.append(float(loss.detach()))
        assert losses[-1] < losses[0], f"{name} {phase} loss did not decrease: {losses[0]:.4g} -> {losses[-1]:.4g}"


def test_cli_trains_stage2_from_a_vae_checkpoint(tmp_path, stage1):
    from click.testing import CliRunner

    from factorbench.cli import main

    sets = [f"--set={k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in LSR.items()]
    args = ["--quiet", "train", "lsr_gan", "--dataset", "digits-rgb", "--init-from", str(stage1), "--epochs", "1",
            "--batch-size", "16", "--n-train", "32", "--out", str(tmp_path / "lsr"), *sets]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert bool(load_model(tmp_path / "lsr").stage1_loaded)
    result = CliRunner().invoke(main, ["--quiet", "train", "lsr_gan", "--dataset", "digits-rgb", "--epochs", "1",
                                       "--out", str(tmp_path / "none"), *sets])
    assert result.exit_code == 1 and "--init-from" in result.output and not (tmp_path / "none").exists()
