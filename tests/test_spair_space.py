"""SPAIR and SPACE (thesis §6.4, the comparison models of Tables 6.1/6.2): the Detections
output and the patch interface, SPAIR's raster-order conditioning vs SPACE's independent
cells, SPAIR's count prior, a planted object found after brief training, and a tiny run
through the trainer that reloads identically."""

import csv
import itertools
import math

import numpy as np
import pytest
import torch

from factorbench.data import get_dataset
from factorbench.errors import FactorbenchError
from factorbench.models import build_model
from factorbench.models.spair.model import NEIGHBOURS, count_prior_probs
from factorbench.train import TrainConfig, TrainRun, load_model, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {
    "spair": {"grid_size": 3, "latent_dim": 6, "glimpse_size": 8, "backbone_channels": 16, "backbone_features": 16,
              "hidden": 32, "passthrough_features": 8, "glimpse_hidden": 64},
    "space": {"grid_size": 3, "latent_dim": 6, "glimpse_size": 8, "backbone_channels": 16, "backbone_features": 16,
              "glimpse_channels": 8, "glimpse_hidden": 32, "bg_latent_dim": 4, "bg_channels": 8, "bg_resolution": 4},
}
SHAPE = (1, 48, 48)  # 3x3 cells of 16 px


def tiny(name, shape=SHAPE, seed=0, **overrides):
    torch.manual_seed(seed)
    return build_model(name, {**TINY[name], **overrides}, shape).eval()


@pytest.mark.parametrize("name", ["spair", "space"])
def test_glimpse_outputs_detections_and_patches(name):
    model = tiny(name, shape=(3, 48, 48))
    x = torch.rand(5, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    det = model.glimpse(x)
    k, d = 9, 6
    assert det.boxes.shape == (5, k, 4) and det.scores.shape == (5, k) and det.latents.shape == (5, k, d)
    assert ((det.scores >= 0) & (det.scores <= 1)).all()
    assert torch.equal(det.keep, det.scores > 0.5) and torch.equal(det.count, det.keep.sum(1))
    x0, y0, x1, y1 = det.boxes.unbind(-1)
    assert (x1 > x0).all() and (y1 > y0).all()
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    cell = 48 / 3  # every box centre lies within one cell of the image, and boxes near it
    assert (cx > -cell).all() and (cx < 48 + cell).all() and (cy > -cell).all() and (cy < 48 + cell).all()
    assert (det.boxes > -48).all() and (det.boxes < 96).all()
    # box k belongs to cell k (raster order): its centre is within a cell of that cell's centre
    col, row = torch.arange(k) % 3, torch.arange(k) // 3
    assert ((cx - (col + 0.5) * cell).abs() <= cell + 1e-4).all()
    assert ((cy - (row + 0.5) * cell).abs() <= cell + 1e-4).all()
    # the patch interface reads the same glimpses the detections encode
    patches, keep = model.glimpse_patches(x)
    assert patches.shape == (5, k, 3, 8, 8) and torch.equal(keep, det.keep)
    mu, logvar = model.encode_patches(patches)
    assert mu.shape == logvar.shape == (5, k, d)
    assert torch.allclose(mu, det.latents, atol=1e-5)
    assert model.encode_patches(patches[0]).__getitem__(0).shape == (k, d)
    assert model.patch_size == (8, 8)
    with pytest.raises(FactorbenchError, match="encode_patches expects"):
        model.encode_patches(torch.rand(4, 3, 15, 15))
    rec = model.reconstruct(x)
    assert rec.shape == x.shape and rec.min() >= 0 and rec.max() <= 1
    with pytest.raises(FactorbenchError, match="built for images"):
        model.glimpse(torch.rand(2, 1, 48, 48))


def cell_outputs(out, k):
    return {key: out[key][:, k] for key in ("pres", "center", "half_size", "what", "depth")}


def same(a, b):
    return all(torch.equal(a[key], b[key]) for key in a)


def test_spair_cells_condition_only_on_earlier_neighbours():
    """SPAIR processes cells in raster order; a cell reads the latents of its neighbours
    up-left, up, up-right and left: changing cell 4's features (the centre of 3x3) leaves
    cells 0-3 untouched and changes cell 4 and the later cells that have it as a neighbour."""
    model = tiny("spair")
    x = torch.rand(3, *SHAPE, generator=torch.Generator().manual_seed(2))
    feats = model.backbone(x)
    moved = feats.clone()
    moved[:, :, 1, 1] += 1.0
    a, b = model.infer_cells(x, feats, sample=False), model.infer_cells(x, moved, sample=False)
    for k in range(4):
        assert same(cell_outputs(a, k), cell_outputs(b, k)), f"cell {k} precedes cell 4 but changed"
    for k in range(4, 9):  # cell 4 itself, and 5, 6, 7, 8, whose neighbour sets all hold cell 4
        assert not torch.allclose(a["pres"][:, k], b["pres"][:, k]), f"cell {k} ignored cell 4"
    assert {(1 + dr) * 3 + (1 + dc) for dr, dc in NEIGHBOURS} == {0, 1, 2, 3}  # cell 4's own neighbours
    # from images: the top-left cell never sees the bottom-right cell's pixels
    y = x.clone()
    y[:, :, 32:, 32:] = torch.rand(3, 1, 16, 16)
    a, b = model.infer(x, sample=False), model.infer(y, sample=False)
    assert same(cell_outputs(a, 0), cell_outputs(b, 0))
    assert not torch.equal(a["pres"][:, 8], b["pres"][:, 8])


def test_space_cells_are_independent_given_the_feature_map():
    model = tiny("space")
    x = torch.rand(3, *SHAPE, generator=torch.Generator().manual_seed(2))
    feats = model.backbone(x)
    moved = feats.clone()
    moved[:, :, 0, 0] += 1.0  # cell 0, the first in raster order: SPAIR would change later cells
    a, b = model.infer_cells(x, feats, sample=False), model.infer_cells(x, moved, sample=False)
    assert not torch.allclose(a["pres"][:, 0], b["pres"][:, 0])
    for k in range(1, 9):
        assert same(cell_outputs(a, k), cell_outputs(b, k)), f"cell {k} depends on cell 0"


def test_spair_count_prior_is_the_geometric_count_distribution():
    """The per-cell conditionals multiply to P(pattern) = P(C=n)/binom(K, n) with
    P(C = n) ∝ ρ^n, for every on/off pattern of K = 4 cells."""
    k, rho = 4, 0.3
    patterns = torch.tensor(list(itertools.product([0.0, 1.0], repeat=k)))
    priors = count_prior_probs(patterns, math.log(rho))
    joint = torch.where(patterns > 0.5, priors, 1 - priors).prod(dim=1)
    norm = sum(rho ** n for n in range(k + 1))
    for pattern, p in zip(patterns, joint):
        n = int(pattern.sum())
        assert p.item() == pytest.approx(rho ** n / norm / math.comb(k, n), rel=1e-5)
    assert joint.sum().item() == pytest.approx(1.0, rel=1e-5)
    # ρ = 1 (the start of SPAIR's annealing): every count equally likely, first cell 1/2
    assert count_prior_probs(patterns, 0.0)[:, 0] == pytest.approx(0.5)


def test_schedules_follow_the_step_buffer():
    spair = tiny("spair")
    assert spair.count_prior_log_rho() == pytest.approx(0.0, abs=1e-9)  # σ(1e6) = 1
    spair.steps_done.fill_(10 ** 6)
    assert spair.count_prior_log_rho() == pytest.approx(math.log(1 / (1 + math.exp(-0.0125))), rel=1e-6)
    spair.steps_done.fill_(1000)  # one decay period: log_odds = exp(log 0.0125 + 0.1·(log 1e6 − log 0.0125))
    log_odds = math.exp(math.log(0.0125) + 0.1 * (math.log(1e6) - math.log(0.0125)))
    assert spair.count_prior_log_rho() == pytest.approx(-math.log1p(math.exp(-log_odds)), rel=1e-6)
    strong = tiny("spair", count_prior_log_odds_end=-4.37)  # ρ ≈ 0.0125: reachable on the value scale
    strong.steps_done.fill_(10 ** 5)
    assert math.exp(strong.count_prior_log_rho()) == pytest.approx(1 / (1 + math.exp(4.37)), rel=1e-4)
    space = tiny("space")
    assert space.pres_prior() == pytest.approx(0.1) and space.scale_prior_mean() == pytest.approx(-1.0)
    space.steps_done.fill_(7000)
    assert space.pres_prior() == pytest.approx(0.055) and space.scale_prior_mean() == pytest.approx(-1.0)
    space.steps_done.fill_(30000)
    assert space.pres_prior() == pytest.approx(0.01) and space.scale_prior_mean() == pytest.approx(-2.0)
    assert "steps_done" in space.state_dict() and "steps_done" in spair.state_dict()


def test_spair_training_wheels_train_the_object_vae_first():
    model = tiny("spair", training_wheels_steps=5).train()
    out = model.training_step({"image": torch.rand(4, *SHAPE)}, "train")
    out["loss"].backward()

    def grad_norm(module):
        return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)

    assert grad_norm(model.backbone) == 0 and grad_norm(model.box_net) == 0 and grad_norm(model.pres_net) == 0
    assert grad_norm(model.glimpse_vae) > 0
    assert int(model.steps_done) == 1


@pytest.mark.parametrize("name", ["spair", "space"])
def test_non_finite_loss_is_one_clear_error(name):
    model = tiny(name).train()
    x = torch.rand(2, *SHAPE)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(FactorbenchError, match="loss is not finite"):
        model.training_step({"image": x}, "train")


def test_config_validation():
    with pytest.raises(FactorbenchError, match="unknown key"):
        build_model("spair", {"grid": 3}, SHAPE)
    with pytest.raises(FactorbenchError, match="likelihood"):
        build_model("spair", {"likelihood": "laplace"}, SHAPE)
    with pytest.raises(FactorbenchError, match="count_prior_log_odds_start"):
        build_model("spair", {"count_prior_log_odds_start": 0.0}, SHAPE)
    with pytest.raises(FactorbenchError, match="min_offset"):
        build_model("spair", {"min_offset": 2.0}, SHAPE)
    with pytest.raises(FactorbenchError, match="z_pres prior"):
        build_model("space", {"pres_prior_end": 0.0}, SHAPE)
    with pytest.raises(FactorbenchError, match="glimpse_size"):
        build_model("space", {"glimpse_size": 2}, SHAPE)
    with pytest.raises(FactorbenchError, match="square"):
        build_model("space", {}, (1, 48, 32))


# -- a planted object --------------------------------------------------------------------

def planted(n, seed, side=32, grid=2, square=8):
    """Black images; every other one holds a white square inside a random cell.
    Returns images (n, 1, side, side), the square's cell (-1: empty) and its centre (x, y)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, side, side)
    cells = torch.full((n,), -1)
    centres = torch.zeros(n, 2)
    c = side // grid
    for i in range(0, n, 2):
        k = int(torch.randint(grid * grid, (1,), generator=g))
        r, q = divmod(k, grid)
        oy, ox = (int(v) for v in torch.randint(1, c - square, (2,), generator=g))
        top, left = r * c + oy, q * c + ox
        x[i, :, top:top + square, left:left + square] = 1.0
        cells[i] = k
        centres[i] = torch.tensor([left + square / 2, top + square / 2])
    return x, cells, centres


PLANTED = {
    "spair": ({"training_wheels_steps": 0, "count_prior_decay_steps": 20, "lr": 3e-3}, 150),
    # the paper's z_scale prior (mean -1 -> -2, std 0.1) is tuned to 8x8 grids on 128 px;
    # here it is set to the square's size (σ(-1)·32 ≈ 8.6 px) and loosened, and the z_pres
    # prior anneals over 100 steps instead of 6000; bg learns 10x faster than fg, as in SPACE
    "space": ({"pres_prior_start_step": 0, "pres_prior_end_step": 100, "scale_prior_start": -1.0,
               "scale_prior_end": -1.0, "scale_prior_std": 0.3, "lr_fg": 2e-3, "lr_bg": 2e-2}, 250),
}


@pytest.mark.parametrize("name", ["spair", "space"])
def test_planted_object_gets_high_z_pres_in_its_cell_and_empty_images_low(name):
    """The issue's test: after brief training on such data, a planted object in an otherwise
    empty image gets a high z_pres in its cell, with a box over it, and an empty image gets a
    low z_pres everywhere."""
    overrides, steps = PLANTED[name]
    model = tiny(name, shape=(1, 32, 32), grid_size=2, latent_dim=4, **overrides).train()
    x, _, _ = planted(256, seed=0)
    opt = model.make_optimizers()["main"]
    order = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(len(x), (32,), generator=order)
        opt.zero_grad()
        model.training_step({"image": x[idx]}, "train")["loss"].backward()
        opt.step()
    xt, cells, centres = planted(64, seed=1)
    det = model.eval().glimpse(xt)
    full = cells >= 0
    rows = torch.arange(int(full.sum()))
    own = det.scores[full][rows, cells[full]]
    assert (own > 0.5).all(), own
    assert torch.equal(det.scores[full].argmax(1), cells[full])
    box = det.boxes[full][rows, cells[full]]
    cx, cy = centres[full].unbind(1)
    assert ((box[:, 0] <= cx) & (cx <= box[:, 2]) & (box[:, 1] <= cy) & (cy <= box[:, 3])).all()
    assert (det.scores[~full] < 0.5).all(), det.scores[~full].max()
    assert (det.count[~full] == 0).all()


# -- through the trainer -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["spair", "space"])
def test_training_run_decreases_the_loss_and_reloads_identically(name, tmp_path):
    config = {**TINY[name], "training_wheels_steps": 0, "lr": 1e-3} if name == "spair" else \
        {**TINY[name], "lr_fg": 1e-3}
    folder = tmp_path / name
    model = train(TrainRun(name, config, "multi-digits", folder, seed=3,
                           train=TrainConfig(epochs=2, batch_size=8), dataset_n=48), progress=False)
    with (folder / "losses.csv").open() as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    assert len(losses) == 12 and all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert int(model.steps_done) == 12
    reloaded = load_model(folder)
    x = get_dataset("multi-digits", "test", n=16).images(np.arange(4))
    a, b = model.eval().glimpse(x), reloaded.glimpse(x)
    for field in ("boxes", "scores", "latents", "keep"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert int(reloaded.steps_done) == 12
