import math

import pytest
import torch

from factorbench.errors import FactorbenchError
from factorbench.models import build_model
from factorbench.models.distributions import empirical_variance_nll, gaussian_kl, reparameterise, sum_squared_error


def test_gaussian_kl_known_values():
    mu = torch.zeros(2, 3)
    logvar = torch.zeros(2, 3)
    assert torch.allclose(gaussian_kl(mu, logvar), torch.zeros(2))
    # KL(N(1, e^0) || N(0,1)) = 0.5 per dimension; KL(N(0, e^2)||N(0,1)) = 0.5 (e^2 - 1 - 2)
    assert torch.allclose(gaussian_kl(torch.ones(1, 4), torch.zeros(1, 4)), torch.tensor([2.0]))
    expected = 0.5 * (math.exp(2) - 3)
    assert torch.allclose(gaussian_kl(torch.zeros(1, 1), torch.full((1, 1), 2.0)), torch.tensor([expected]))


def test_reparameterise_is_mean_plus_scaled_global_noise():
    mu = torch.tensor([[1.0, -2.0, 0.5]])
    logvar = torch.tensor([[0.0, math.log(4.0), math.log(0.25)]])
    torch.manual_seed(3)
    z = reparameterise(mu, logvar)
    torch.manual_seed(3)
    eps = torch.randn_like(mu)
    assert torch.allclose(z, mu + eps * torch.tensor([[1.0, 2.0, 0.5]]))
    # a vanishing variance gives back the mean; gradients reach both parameters
    assert torch.allclose(reparameterise(mu, torch.full_like(mu, -60.0)), mu)
    mu_r, logvar_r = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    reparameterise(mu_r, logvar_r).sum().backward()
    assert torch.equal(mu_r.grad, torch.ones_like(mu)) and logvar_r.grad.abs().sum() > 0


def test_empirical_variance_nll_matches_formula_and_gradient():
    """§1.1: per image (D/2)(log 2πσ̂² + 1); its gradient is (x̂ - x)/σ̂² per batch value, /B per image."""
    torch.manual_seed(0)
    x = torch.rand(4, 3, 2, 2)
    x_hat = torch.rand(4, 3, 2, 2, requires_grad=True)
    nll = empirical_variance_nll(x, x_hat)
    d = 12
    var = (x - x_hat).pow(2).mean()
    assert torch.allclose(nll, 0.5 * d * (torch.log(2 * math.pi * var) + 1))
    nll.backward()
    expected_grad = (x_hat - x).detach() / var.detach() / 4  # batch of 4, loss averaged per image
    assert torch.allclose(x_hat.grad, expected_grad, atol=1e-6)


def test_sum_squared_error():
    x = torch.zeros(2, 1, 2, 2)
    x_hat = torch.ones(2, 1, 2, 2) * 0.5
    assert sum_squared_error(x, x_hat).item() == pytest.approx(1.0)


def test_vae_shapes_and_config_validation():
    model = build_model("vae", {"latent_dim": 4, "base_channels": 4}, (3, 32, 32))
    x = torch.rand(5, 3, 32, 32)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 4)
    assert model.reconstruct(x).shape == x.shape
    s = model.sample(3)
    assert s.shape == (3, 3, 32, 32) and s.min() >= 0 and s.max() <= 1
    with pytest.raises(FactorbenchError, match="likelihood"):
        build_model("vae", {"likelihood": "laplace"}, (3, 32, 32))
    with pytest.raises(FactorbenchError, match="multiple of 16"):
        build_model("vae", {}, (3, 30, 30))


@pytest.mark.parametrize("likelihood", ["empirical", "constant"])
def test_vae_loss_decreases_on_a_fixed_batch(likelihood):
    torch.manual_seed(0)
    model = build_model("vae", {"latent_dim": 4, "base_channels": 8, "likelihood": likelihood, "lr": 1e-3}, (1, 16, 16))
    x = torch.zeros(16, 1, 16, 16)
    x[:, :, 4:12, 4:12] = torch.rand(16, 1, 1, 1)  # squares of varying brightness
    opt = model.make_optimizers()["main"]
    losses = []
    for _ in range(60):
        opt.zero_grad()
        out = model.training_step({"image": x}, "train")
        out["loss"].backward()
        opt.step()
        losses.append(out["mse"].item())
    assert losses[-1] < 0.5 * losses[0]


def test_beta_weights_the_kl_term():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 16, 16)
    outs = []
    for beta in (1.0, 3.0):
        torch.manual_seed(1)
        model = build_model("vae", {"latent_dim": 4, "base_channels": 4, "beta": beta}, (3, 16, 16))
        torch.manual_seed(2)
        outs.append(model.training_step({"image": x}, "train"))
    (a, b) = outs
    assert torch.allclose(a["rec"], b["rec"]) and torch.allclose(a["kl"], b["kl"])
    assert torch.allclose(b["loss"] - a["loss"], 2.0 * a["kl"], atol=1e-3)


@pytest.mark.parametrize("backbone, enc_convs, dec_convs", [("conv", 4, 5), ("conv3", 3, 4)])
def test_backbones_have_the_thesis_layer_counts(backbone, enc_convs, dec_convs):
    """§5.4.1: encoder 4 conv + BN + 2 FC, decoder 5 conv; §4.4: encoder 3 conv + BN + 2 FC, decoder 4 conv."""
    from torch import nn

    model = build_model("vae", {"backbone": backbone, "latent_dim": 4, "base_channels": 4}, (3, 64, 64))

    def count(module, kinds):
        return sum(isinstance(m, kinds) for m in module.modules())

    assert count(model.encoder, (nn.Conv2d,)) == enc_convs
    assert count(model.encoder, (nn.BatchNorm2d,)) == enc_convs
    assert count(model.encoder, (nn.Linear,)) == 2
    assert count(model.decoder, (nn.Conv2d, nn.ConvTranspose2d)) == dec_convs
    assert model.reconstruct(torch.rand(2, 3, 64, 64)).shape == (2, 3, 64, 64)
