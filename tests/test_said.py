"""SAID (§6.2.1–6.2.3, eqs. 6.1–6.5) and the error-map network (§6.2.2): the stop rule, the
code lengths, the write-back, the scope, learning after every glimpse, the object-model
interface, the ablation flags of Table 6.3, and a tiny training run through the trainer."""

import csv
import math

import pytest
import torch

from factorbench.data import get_dataset
from factorbench.errors import FactorbenchError
from factorbench.models import build_model
from factorbench.models.objects import Detections, pixels_to_boxes
from factorbench.models.said.model import (RESIDUAL_VARIANCE_FLOOR, GlimpseState, lossy_image, normal_kl,
                                           residual_code_length, stop_rule, write_back)
from factorbench.train import TrainConfig, TrainRun, load_model, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"base_channels": 4, "glimpses": 3, "eval_glimpses": 4}
SHAPE = (1, 32, 32)


def tiny(**overrides):
    torch.manual_seed(0)
    return build_model("said", {**TINY, **overrides}, SHAPE)


def digits_like(n=4, seed=0):
    """Bright 6x6 squares on black 32x32 canvases, 1-3 per image."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, *SHAPE)
    for i in range(n):
        for _ in range(1 + i % 3):
            r, c = torch.randint(0, 26, (2,), generator=g).tolist()
            x[i, :, r:r + 6, c:c + 6] = 0.5 + 0.5 * torch.rand(1, generator=g)
    return x


def run_all_phases(model, batch):
    opt = model.make_optimizers()["main"]
    out = []
    for phase in model.phases():
        opt.zero_grad(set_to_none=True)
        losses = model.training_step(batch, phase.name)
        losses["loss"].backward()
        opt.step()
        out.append(losses)
    return out


# -- pure functions ---------------------------------------------------------------------------
def test_stop_rule_keeps_the_prefix_of_glimpses_that_pay_for_their_code():
    """§6.2.3: stop at the first glimpse whose KL exceeds the reduction in residual code
    length; it and every later glimpse are dropped, even ones that would pay again."""
    kl = torch.tensor([[1.0, 1.0, 5.0, 1.0], [3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    reduction = torch.tensor([[2.0, 1.0, 4.0, 9.0], [2.0, 1.0, 1.0, 1.0], [0.5, -1.0, 5.0, 5.0],
                              [9.0, 9.0, 9.0, 9.0]])
    keep = stop_rule(kl, reduction)
    assert keep.tolist() == [[True, True, False, False], [False, False, False, False],
                             [True, False, False, False], [True, True, True, True]]
    assert keep.sum(1).tolist() == [2, 0, 1, 4]
    with pytest.raises(FactorbenchError, match="stop_rule"):
        stop_rule(kl, reduction[:, :3])


def test_residual_code_length_is_the_empirical_variance_gaussian():
    """§6.2.1: (D/2)(log 2πσ̂² + 1) per image with its own σ̂²; halving a residual saves
    D·log 2 nats; a zero residual stays finite (floored at 8-bit quantisation noise)."""
    residual = torch.full((2, 3, 4, 4), 0.1)
    residual[1] *= 0.5
    d = 48
    lengths = residual_code_length(residual)
    assert lengths[0].item() == pytest.approx(0.5 * d * (math.log(2 * math.pi * 0.01) + 1), rel=1e-5)
    assert (lengths[0] - lengths[1]).item() == pytest.approx(d * math.log(2), rel=1e-5)
    zero = residual_code_length(torch.zeros(1, 3, 4, 4))
    floor = 0.5 * d * (math.log(2 * math.pi * RESIDUAL_VARIANCE_FLOOR) + 1)
    assert torch.isfinite(zero).all() and zero.item() == pytest.approx(floor, rel=1e-5)


def test_normal_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mu, logvar, pmu, plogvar = torch.randn(4, 5, 4).unbind(1)[:4]
    ours = normal_kl(mu, logvar, pmu, plogvar)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(pmu, (0.5 * plogvar).exp())
    assert torch.allclose(ours, torch.distributions.kl_divergence(q, p).sum(-1), atol=1e-5)


@pytest.mark.parametrize("with_alpha", [True, False])
def test_write_back_changes_only_the_box(with_alpha):
    """x̂(t+1) = (1−m)⊙x̂(t) + m⊙ε̂ (§6.2.3): outside the box (past the half-patch-pixel
    resampling border) x̂ is unchanged; inside it is the alpha blend (or the patch)."""
    torch.manual_seed(0)
    canvas = torch.rand(1, 3, 32, 32)
    patch = torch.full((1, 3, 8, 8), 0.25)
    alpha = torch.full((1, 1, 8, 8), 0.75) if with_alpha else None
    center, half = pixels_to_boxes(torch.tensor([[8.0, 8.0, 24.0, 20.0]]), (32, 32))
    out, box = write_back(canvas, patch, alpha, center, half)
    outside = torch.ones(32, 32, dtype=torch.bool)
    outside[7:21, 7:25] = False  # the box grown by 1 px each side; the resampling border is half a patch pixel
    assert torch.equal(out[..., outside], canvas[..., outside])
    a = 0.75 if with_alpha else 1.0
    inner = (slice(None), slice(None), slice(10, 18), slice(10, 22))
    assert torch.allclose(out[inner], (1 - a) * canvas[inner] + a * 0.25, atol=1e-5)
    assert torch.allclose(box[inner], torch.ones_like(box[inner])) and box[..., outside].abs().max() == 0


# -- the model's interface --------------------------------------------------------------------
def test_glimpse_returns_detections_in_glimpse_order():
    model = tiny().eval()
    x = digits_like(3)
    det = model.glimpse(x)
    assert isinstance(det, Detections)
    assert det.boxes.shape == (3, 4, 4) and det.latents.shape == (3, 4, 10) and det.keep.dtype == torch.bool
    assert (det.boxes >= 0).all() and (det.boxes <= 32).all()
    assert (det.boxes[..., 2] > det.boxes[..., 0]).all() and (det.boxes[..., 3] > det.boxes[..., 1]).all()
    assert (det.scores[:, :-1] > det.scores[:, 1:]).all()  # earlier glimpse = more confident
    again = model.glimpse(x)  # posterior means: deterministic
    assert torch.equal(det.boxes, again.boxes) and torch.equal(det.latents, again.latents)
    assert model.glimpse(x, k=2).boxes.shape == (3, 2, 4)
    # kept glimpses form a prefix and reconstruct() stops there
    assert torch.equal(det.keep, torch.cumprod(det.keep.long(), 1).bool())
    trace = model.trace(x)
    rec = model.reconstruct(x)
    for i, c in enumerate(det.count.tolist()):
        assert torch.equal(rec[i], trace.recons[i, c])
    maps = model.error_maps(x)
    assert maps.shape == (3, 5, *SHAPE)
    assert torch.allclose(maps[:, 0], x - lossy_image(x, 8))  # Δ(0) = x − bilinear 8x8 lossy image


def test_patches_and_their_codes_serve_the_digit_sum_task():
    """glimpse_patches + encode_patches give the glimpse latents; crop_boxes at the
    glimpses' own pixel boxes gives the same patches (the GT row of Table 6.2)."""
    model = tiny().eval()
    x = digits_like(2)
    det = model.glimpse(x, k=3)
    patches, keep = model.glimpse_patches(x, k=3)
    assert patches.shape == (2, 3, 1, 8, 8) and torch.equal(keep, det.keep)
    mu, logvar = model.encode_patches(patches)
    assert mu.shape == logvar.shape == (2, 3, 10)
    assert torch.allclose(mu, det.latents, atol=1e-6)
    assert torch.allclose(model.crop_boxes(x, det.boxes), patches, atol=1e-5)
    mu.sum().backward()  # "unfixed": the encoder can be fine-tuned through encode_patches
    assert model.patch_vae.encoder[0].weight.grad is not None
    with pytest.raises(FactorbenchError, match="patches must be"):
        model.encode_patches(torch.zeros(2, 1, 16, 16))
    with pytest.raises(FactorbenchError, match="expects images"):
        model.glimpse(torch.zeros(2, 3, 32, 32))


def test_blank_image_stops_before_the_first_glimpse():
    """On an all-zero image x̂(0) is already exact: no glimpse can shorten the residual's
    code, so none pays for its KL and the stop rule keeps nothing."""
    model = tiny(alpha=False).eval()
    x = torch.zeros(2, *SHAPE)
    trace = model.trace(x)
    assert (trace.reduction <= 0).all() and (trace.kl > 0).all()
    det = model.glimpse(x)
    assert det.count.tolist() == [0, 0] and not det.keep.any()
    assert torch.equal(model.reconstruct(x), x)


@pytest.mark.parametrize("alpha", [True, False])
def test_a_glimpse_writes_only_inside_its_box_and_closes_the_scope_there(alpha):
    """eq. 6.5: s(t+1) = s(t)⊙(1 − m(t)) is 0 in the box and stays 1 away from it; x̂ changes
    only in the box."""
    model = tiny(alpha=alpha).eval()
    x = digits_like(2)
    with torch.no_grad():
        state, _ = model.initial_state(x, sample=False)
        out = model.step(x, state, sample=False)
    boxes = model.detections(model.trace(x, k=1)).boxes[:, 0]
    for i in range(2):
        x0, y0, x1, y1 = boxes[i].tolist()
        pad_x, pad_y = (x1 - x0) / 8 + 1, (y1 - y0) / 8 + 1  # the resampling border
        cols, rows = torch.arange(32.0) + 0.5, torch.arange(32.0) + 0.5
        far = ((cols[None, :] < x0 - pad_x) | (cols[None, :] > x1 + pad_x)
               | (rows[:, None] < y0 - pad_y) | (rows[:, None] > y1 + pad_y))
        inside = ((cols[None, :] > x0 + pad_x) & (cols[None, :] < x1 - pad_x)
                  & (rows[:, None] > y0 + pad_y) & (rows[:, None] < y1 - pad_y))
        assert far.any() and inside.any()
        assert torch.equal(out.state.recon[i, :, far], state.recon[i, :, far])
        assert torch.equal(out.state.scope[i, 0, far], torch.ones(int(far.sum())))
        assert out.state.scope[i, 0, inside].abs().max() < 1e-5


# -- training ----------------------------------------------------------------------------------
def test_every_glimpse_is_its_own_optimiser_step_continuing_from_the_last():
    """§6.2.3 "we learn after every iteration": one phase per glimpse; phase t continues
    from the x̂(t) phase t−1 left (detached), which a replay reproduces exactly."""
    model = tiny()
    assert [p.name for p in model.phases()] == ["glimpse0", "glimpse1", "glimpse2"]
    x = digits_like(4)
    batch = {"image": x}
    torch.manual_seed(5)
    losses = model.training_step(batch, "glimpse0")
    carried = model._carried_state(x, 1)
    assert not carried.recon.requires_grad and not torch.equal(carried.recon, lossy_image(x, 8))
    model._carry = None
    torch.manual_seed(5)
    replayed = model._carried_state(x, 1)  # same parameters, same noise: the same x̂(1)
    assert torch.equal(replayed.recon, carried.recon) and torch.equal(replayed.scope, carried.scope)
    assert set(losses) == {"loss", "vae", "nll", "kl", "res", "pos"}
    assert losses["loss"].requires_grad and not losses["kl"].requires_grad
    assert torch.allclose(losses["loss"], losses["vae"] + losses["res"] + losses["pos"])
    with pytest.raises(FactorbenchError, match="unknown training phase"):
        model.training_step(batch, "glimpse3")


def test_patch_reconstruction_trains_the_vae_but_cannot_move_the_box():
    """eq. 6.1's reconstruction term trains the patch VAE alone (else glimpses flee to blank
    patches); L_kl and L_res reach the glimpse network. Its value is the same either way."""
    model = tiny()
    x = digits_like(4)
    state, _ = model.initial_state(x, sample=True)
    torch.manual_seed(3)
    out = model.step(x, state, sample=True)
    out.losses["nll"].backward(retain_graph=True)
    assert all(p.grad is None or not p.grad.any() for p in model.glimpse_net.parameters())
    assert any(p.grad is not None and p.grad.any() for p in model.patch_vae.parameters())
    model.zero_grad()
    (out.losses["kl"] + out.losses["res"]).backward()
    assert any(p.grad is not None and p.grad.any() for p in model.glimpse_net.parameters())
    torch.manual_seed(3)
    with torch.no_grad():
        plain = model.step(x, state, sample=True)
    assert torch.allclose(plain.losses["nll"], out.losses["nll"], atol=1e-5)


@pytest.mark.parametrize("overrides", [{"alpha": False}, {"scope": False}, {"lossy_input": "vae8"},
                                       {"update_every_glimpse": False}], ids=lambda o: next(iter(o)))
def test_ablations_build_and_train_one_step(overrides):
    """Table 6.3's variants (no alpha, no scope, VAE8) and the summed-loss variant."""
    model = tiny(**overrides)
    before = [p.detach().clone() for p in model.parameters()]
    out = run_all_phases(model, {"image": digits_like(4)})
    assert all(torch.isfinite(o["loss"]) for o in out)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    if overrides.get("lossy_input") == "vae8":
        assert "vae8" in out[0] and "vae8" not in out[1]
        x = digits_like(2)
        assert not torch.allclose(model.error_maps(x)[:, 0], x - lossy_image(x, 8))
    if overrides.get("scope") is False:
        assert model.glimpse_net.convs[0].in_channels == 1
    if overrides.get("alpha") is False:
        assert model.patch_vae.decoder_convs[-2].out_channels == 1
    if overrides.get("update_every_glimpse") is False:
        assert [p.name for p in model.phases()] == ["train"] and len(out) == 1
    assert model.glimpse(digits_like(2)).boxes.shape == (2, 4, 4)


def test_a_non_finite_loss_is_a_clear_error():
    model = tiny()
    with torch.no_grad():
        model.glimpse_net.fc[-1].bias.fill_(float("nan"))
    with pytest.raises(FactorbenchError, match="glimpse0 loss is not finite"):
        model.training_step({"image": digits_like(2)}, "glimpse0")


def test_config_is_strict_and_validated():
    for bad, match in [({"lossy_input": "vae64"}, "lossy_input"), ({"patch_size": 6}, "patch_size"),
                       ({"min_half_size": 0.5, "max_half_size": 0.4}, "min_half_size"),
                       ({"where_prior_half_size": 0.05}, "where_prior_half_size"), ({"glimpses": 0}, "glimpses"),
                       ({"latent_dim": 0}, "latent_dim"), ({"bogus": 1}, "unknown key")]:
        with pytest.raises(FactorbenchError, match=match):
            build_model("said", bad, SHAPE)
    with pytest.raises(FactorbenchError, match="multiples of 8"):
        build_model("said", TINY, (1, 36, 36))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("said") / "run"
    config = {"base_channels": 4, "glimpses": 3, "eval_glimpses": 5, "lr": 1e-3}
    model = train(TrainRun("said", config, "multi-digits", folder, seed=1,
                           train=TrainConfig(epochs=4, batch_size=16), dataset_n=64), progress=False)
    return folder, model


def test_tiny_training_run_lowers_the_loss_and_reloads_exactly(trained):
    folder, model = trained
    with open(folder / "losses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = [f"glimpse{t}/loss" for t in range(3)]
    per_step = [sum(float(r[c]) for c in columns) for r in rows]
    assert all(math.isfinite(v) for v in per_step)
    first, last = per_step[:4], per_step[-4:]
    assert sum(last) / 4 < sum(first) / 4
    x = get_dataset("multi-digits", "test", n=4).batch(list(range(4)))["image"]
    det, reloaded = model.glimpse(x), load_model(folder).glimpse(x)
    for a, b in zip((det.boxes, det.scores, det.latents, det.keep), (reloaded.boxes, reloaded.scores,
                                                                    reloaded.latents, reloaded.keep)):
        assert torch.equal(a, b)


# -- the error-map network of §6.2.2 -----------------------------------------------------------
def test_error_map_network_trains_and_glimpses():
    torch.manual_seed(0)
    model = build_model("error_map", {"base_channels": 4, "glimpses": 2, "eval_glimpses": 3}, SHAPE)
    x = digits_like(4)
    out = run_all_phases(model, {"image": x})
    assert len(out) == 2 and all(torch.isfinite(o["loss"]) for o in out)
    # L_i = ||x − x'_{i+1}||², with the KL of z_where to its prior beside it
    assert torch.allclose(out[0]["loss"], out[0]["sq_error"] + out[0]["pos"])
    det = model.eval().glimpse(x)
    assert det.boxes.shape == (4, 3, 4) and det.latents.shape == (4, 3, 0) and det.keep.all()
    assert (det.scores[:, :-1] > det.scores[:, 1:]).all()
    with torch.no_grad():  # the input is the absolute error map
        state, _ = model.initial_state(x, sample=False)
        assert torch.equal(model.glimpse_input(x, state), (x - lossy_image(x, 8)).abs())
        assert isinstance(state, GlimpseState) and state.scope is None


def test_writes_start_nearly_transparent():
    """initial_alpha: at initialisation the decoded alpha is about initial_alpha everywhere,
    so the first glimpses barely change x̂ (config docstring)."""
    model = build_model("said", {"base_channels": 4, "initial_alpha": 0.02}, (1, 64, 64))
    _, alpha = model.patch_vae.decode(torch.zeros(3, model.config.latent_dim))
    assert alpha.shape == (3, 1, 8, 8) and float((alpha - 0.02).abs().max()) < 0.01
    with pytest.raises(FactorbenchError, match="initial_alpha"):
        build_model("said", {"initial_alpha": 1.0}, (1, 64, 64))
