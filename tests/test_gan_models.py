"""ResNet blocks, GAN discriminators and losses, DCGAN / SNGAN training, ResNet VAE backbone."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from factorbench.errors import FactorbenchError
from factorbench.models import build_model
from factorbench.models.dcgan.model import DCGANGenerator
from factorbench.models.discriminators import DCGANDiscriminator, SNResDiscriminator
from factorbench.models.gan import (
    bce_discriminator_loss,
    bce_generator_loss,
    hinge_discriminator_loss,
    hinge_generator_loss,
)
from factorbench.models.resnet import ResBlockDown, ResBlockUp, ResNetEncoder, ResNetGenerator
from factorbench.train import TrainConfig, TrainRun, load_model, train

B = 8


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_res_blocks_halve_and_double_the_side():
    x = torch.rand(B, 5, 16, 16)
    down = ResBlockDown(5, 7)(x)
    assert down.shape == (B, 7, 8, 8) and down.min() >= 0  # ReLU after the sum
    up = ResBlockUp(5, 3)(x)
    assert up.shape == (B, 3, 32, 32)


@pytest.mark.parametrize("side, blocks", [(32, 3), (64, 4)])
def test_resnet_encoder_and_generator_shapes(side, blocks):
    shape = (3, side, side)
    enc = ResNetEncoder(shape, 10, base_channels=8)
    assert sum(isinstance(m, ResBlockDown) for m in enc.modules()) == blocks
    assert sum(isinstance(m, nn.Linear) for m in enc.modules()) == 1
    assert enc(torch.rand(B, *shape)).shape == (B, 10)
    gen = ResNetGenerator(6, shape, base_channels=8)
    assert sum(isinstance(m, ResBlockUp) for m in gen.modules()) == blocks
    out = gen(torch.randn(B, 6) * 10)
    assert out.shape == (B, *shape) and out.min() >= 0 and out.max() <= 1


def test_channels_are_capped_at_eight_times_base():
    enc = ResNetEncoder((1, 128, 128), 4, base_channels=2)
    widths = [m.shortcut.out_channels for m in enc.modules() if isinstance(m, ResBlockDown)]
    assert widths == [2, 4, 8, 16, 16]
    gen = ResNetGenerator(4, (1, 128, 128), base_channels=2)
    assert [m.shortcut.out_channels for m in gen.modules() if isinstance(m, ResBlockUp)] == [16, 8, 4, 2, 2]


@pytest.mark.parametrize("shape", [(3, 28, 28), (3, 48, 48), (3, 32, 64), (3, 4, 4)])
def test_unsupported_image_sizes_are_clear_errors(shape):
    for make in (lambda: ResNetEncoder(shape, 4, 8), lambda: ResNetGenerator(4, shape, 8),
                 lambda: DCGANDiscriminator(shape, 8), lambda: SNResDiscriminator(shape, 8),
                 lambda: DCGANGenerator(4, shape, 8)):
        with pytest.raises(FactorbenchError, match="4·2"):
            make()
    with pytest.raises(FactorbenchError, match="4·2"):
        build_model("vae", {"backbone": "resnet"}, shape)


@pytest.mark.parametrize("side", [32, 64])
def test_dcgan_networks_shapes_and_rules(side):
    shape = (3, side, side)
    x = torch.rand(B, *shape)
    d = DCGANDiscriminator(shape, base_channels=8)
    assert d(x).shape == (B,)
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.kernel_size == (4, 4) for c in convs)
    assert all(c.stride == (2, 2) for c in convs[:-1])
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == len(convs) - 2  # not first, not last
    assert not any(isinstance(m, (nn.Linear, nn.MaxPool2d, nn.AvgPool2d)) for m in d.modules())
    g = DCGANGenerator(12, shape, base_channels=8)
    out = g(torch.randn(B, 12) * 10)
    assert out.shape == (B, *shape) and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("side", [32, 64])
def test_sn_discriminator_shapes_and_spectral_norm(side):
    torch.manual_seed(0)
    shape = (3, side, side)
    d = SNResDiscriminator(shape, base_channels=8).train()
    x = torch.rand(B, *shape)
    assert d(x).shape == (B,)
    for _ in range(30):  # one power iteration per forward pass in train mode
        d(x[:2])
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 3 * (side // 32 + 2) + 1  # 3 SN convs per block, SN linear
    for layer in layers:
        assert hasattr(layer, "parametrizations") and "weight" in layer.parametrizations
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=2e-3)
    raw = d.blocks[0].conv1.parametrizations.weight.original
    assert torch.linalg.matrix_norm(raw.detach().flatten(1), ord=2).item() != pytest.approx(1.0, abs=0.05)


def test_loss_helpers_against_hand_computed_values():
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.0, 1.5])
    # hinge: mean(relu(1 - real)) + mean(relu(1 + fake)) = (0 + .5 + 2)/3 + (0 + 1 + 2.5)/3
    assert hinge_discriminator_loss(real, fake).item() == pytest.approx(2.5 / 3 + 3.5 / 3)
    assert hinge_generator_loss(fake).item() == pytest.approx(0.5 / 3)  # -mean(fake)
    # BCE with logits: at logit 0 every term is log 2; -log sigmoid(a) = log(1 + e^-a)
    zero = torch.zeros(4)
    assert bce_discriminator_loss(zero, zero).item() == pytest.approx(2 * torch.log(torch.tensor(2.0)).item())
    assert bce_generator_loss(zero).item() == pytest.approx(torch.log(torch.tensor(2.0)).item())
    s = torch.sigmoid
    expected_d = -(torch.log(s(real)).mean() + torch.log(1 - s(fake)).mean())
    assert bce_discriminator_loss(real, fake).item() == pytest.approx(expected_d.item(), rel=1e-6)
    assert bce_generator_loss(fake).item() == pytest.approx(-torch.log(s(fake)).mean().item(), rel=1e-6)
    assert bce_discriminator_loss(real, fake).item() == pytest.approx(
        (F.binary_cross_entropy_with_logits(real, torch.ones(3))
         + F.binary_cross_entropy_with_logits(fake, torch.zeros(3))).item(), rel=1e-6)


def test_resnet_vae_decoder_loads_into_a_generator_and_sngan():
    vae = build_model("vae", {"backbone": "resnet", "latent_dim": 6, "base_channels": 8}, (3, 32, 32))
    assert isinstance(vae.encoder, ResNetEncoder) and isinstance(vae.decoder, ResNetGenerator)
    gen = ResNetGenerator(6, (3, 32, 32), base_channels=8)
    gen.load_state_dict(vae.decoder.state_dict())
    sngan = build_model("sngan", {"latent_dim": 6, "base_channels": 8}, (3, 32, 32))
    sngan.generator.load_state_dict(vae.decoder.state_dict())
    z = torch.randn(4, 6)
    vae.eval(), gen.eval(), sngan.eval()
    assert torch.equal(vae.decode(z), gen(z)) and torch.equal(vae.decode(z), sngan.decode(z))


def test_resnet_vae_shapes_and_loss_decreases_on_a_fixed_batch():
    torch.manual_seed(0)
    model = build_model("vae", {"backbone": "resnet", "latent_dim": 4, "base_channels": 8, "lr": 1e-3}, (1, 16, 16))
    mu, logvar = model.encode(torch.rand(B, 1, 16, 16))
    assert mu.shape == logvar.shape == (B, 4)
    x = torch.zeros(16, 1, 16, 16)
    x[:, :, 4:12, 4:12] = torch.rand(16, 1, 1, 1)
    opt = model.make_optimizers()["main"]
    losses = []
    for _ in range(30):
        opt.zero_grad()
        out = model.training_step({"image": x}, "train")
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 100  # per-image nats over 256 values
    with pytest.raises(FactorbenchError, match="resnet"):
        build_model("vae", {"backbone": "resnet50"}, (1, 16, 16))


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def changed(before, module):
    return [k for k, v in module.named_parameters() if not torch.equal(before[k], v)]


@pytest.mark.parametrize("name", ["dcgan", "sngan"])
def test_each_phase_steps_only_its_own_network(name):
    torch.manual_seed(0)
    model = build_model(name, {"latent_dim": 8, "base_channels": 8}, (3, 16, 16)).train()
    assert [p.name for p in model.phases()] == ["discriminator", "generator"]
    opts = model.make_optimizers()
    batch = {"image": torch.rand(B, 3, 16, 16)}
    for phase, opt, own, other in [("discriminator", opts["d"], model.discriminator, model.generator),
                                   ("generator", opts["g"], model.generator, model.discriminator)]:
        own_before, other_before = snapshot(own), snapshot(other)
        opt.zero_grad(set_to_none=True)
        out = model.training_step(batch, phase)
        out["loss"].backward()
        opt.step()
        assert changed(other_before, other) == [], phase
        assert changed(own_before, own), phase
        assert all(not v.requires_grad for k, v in out.items() if k != "loss")
    assert set(out) == {"loss", "g_adv", "d_fake"}
    assert all(p.requires_grad for p in model.discriminator.parameters())  # unfrozen after the G phase


def test_extra_generator_losses_are_added_and_logged():
    model = build_model("dcgan", {"latent_dim": 8, "base_channels": 8}, (3, 16, 16))
    model.extra_generator_losses = lambda z, fake: {"latent": fake.mean() * 0 + 3.0}
    out = model.training_step({"image": torch.rand(B, 3, 16, 16)}, "generator")
    assert out["latent"].item() == 3.0
    assert out["loss"].item() == pytest.approx(out["g_adv"].item() + 3.0)


@pytest.mark.parametrize("name", ["dcgan", "sngan"])
def test_tiny_training_reloads_and_samples_deterministically(tmp_path, name):
    run = TrainRun(name, {"latent_dim": 16, "base_channels": 8}, "digits-rgb", tmp_path / name, seed=3,
                   train=TrainConfig(epochs=1, batch_size=16), dataset_n=64)
    model = train(run, progress=False)
    lines = (tmp_path / name / "losses.csv").read_text().splitlines()
    assert len(lines) == 1 + 4 and "discriminator/loss" in lines[0] and "generator/loss" in lines[0]
    loaded = load_model(tmp_path / name)
    a = model.sample(5, torch.Generator().manual_seed(0))
    b = loaded.sample(5, torch.Generator().manual_seed(0))
    assert a.shape == (5, 3, 32, 32) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.equal(a, loaded.sample(5, torch.Generator().manual_seed(1)))
    x = torch.rand(4, 3, 32, 32)
    assert torch.equal(model.discriminator(x), loaded.discriminator(x))
    with pytest.raises(FactorbenchError, match="no encoder"):
        loaded.encode(x)
