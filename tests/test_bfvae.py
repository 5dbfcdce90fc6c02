"""BFVAE (§5.3, eq. 5.3): z_f sees only the foreground, the mask channel, β on z_b, training,
attribute mode (§5.4.3), the swap/background helpers, and the z_f/z_b factor probes."""

import numpy as np
import pytest
import torch

from factorbench.data import get_dataset
from factorbench.errors import FactorbenchError
from factorbench.evaluators import EVALUATORS, EvalContext
from factorbench.evaluators.probe_factors import OUTPUTS, factor_probe_results, zf_zb_codes
from factorbench.models import build_model
from factorbench.train import TrainConfig, TrainRun, load_model, train

TINY = {"zf_dim": 4, "zb_dim": 4, "base_channels": 4}
SHAPE = (3, 32, 32)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bfvae") / "run"
    model = train(TrainRun("bfvae", dict(TINY), "shapes-fb", folder, seed=1,
                           train=TrainConfig(epochs=1, batch_size=16), dataset_n=64), progress=False)
    return folder, model


def square_batch(n=8, side=32, seed=0):
    """Coloured squares of random size on coloured backgrounds, with their masks."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(n, 1, side, side)
    for i in range(n):
        a = int(torch.randint(4, 12, (1,), generator=g))
        mask[i, :, a:side - a, a:side - a] = 1
    fg, bg = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    return {"image": fg * mask + bg * (1 - mask), "mask": mask}


def test_zf_cannot_see_the_background():
    model = build_model("bfvae", TINY, SHAPE).eval()
    batch = square_batch(2)
    mask = batch["mask"][:1].expand(2, -1, -1, -1)
    fg = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    bgs = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]).view(2, 3, 1, 1)
    x = fg * mask + bgs * (1 - mask)  # same object and mask, two backgrounds
    parts = model.encode_parts(x, mask)
    assert torch.equal(parts["zf_mu"][0], parts["zf_mu"][1])
    assert torch.equal(parts["zf_logvar"][0], parts["zf_logvar"][1])
    assert not torch.equal(parts["zb_mu"][0], parts["zb_mu"][1])


@pytest.mark.parametrize("mask_channel", [True, False])
def test_mask_channel_lets_ef_see_black_objects(mask_channel):
    """§5.3: a black object on a black background gives f = 0 whatever its shape; only the
    mask channel tells E_f the shapes apart (the reason for the option)."""
    model = build_model("bfvae", {**TINY, "mask_channel": mask_channel}, SHAPE).eval()
    masks = square_batch(2)["mask"]
    assert not torch.equal(masks[0], masks[1])
    x = torch.zeros(2, *SHAPE)  # black object, black background
    f, m = model.foreground(x, masks)
    inputs = model.foreground_input(f, m)
    assert inputs.shape[1] == 3 + int(mask_channel)
    zf = model.encode_parts(x, masks)["zf_mu"]
    if mask_channel:
        assert not torch.equal(inputs[0], inputs[1]) and not torch.allclose(zf[0], zf[1])
    else:
        assert torch.equal(inputs[0], inputs[1]) and torch.equal(zf[0], zf[1])


def test_beta_weights_kl_of_zb_only():
    batch = square_batch(8)
    outs = []
    for beta in (1.0, 5.0):
        torch.manual_seed(1)
        model = build_model("bfvae", {**TINY, "beta": beta}, SHAPE)
        torch.manual_seed(2)
        outs.append(model.training_step(batch, "train"))
    a, b = outs
    for part in ("rec_b", "rec_f", "kl_b", "kl_f"):
        assert torch.allclose(a[part], b[part]), part
    assert torch.allclose(b["loss"] - a["loss"], 4.0 * a["kl_b"], rtol=1e-4, atol=1e-3)
    expected = a["rec_b"] + a["rec_f"] + a["kl_b"] + a["kl_f"]
    assert torch.allclose(a["loss"], expected, rtol=1e-5, atol=1e-3)


def test_loss_decreases_on_a_fixed_batch():
    torch.manual_seed(0)
    model = build_model("bfvae", {**TINY, "base_channels": 8, "lr": 1e-3}, SHAPE)
    batch = square_batch(16)
    opt = model.make_optimizers()["main"]
    losses, mse = [], []
    for _ in range(30):
        opt.zero_grad()
        out = model.training_step(batch, "train")
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
        mse.append(out["mse_b"].item())
    assert losses[-1] < losses[0] and mse[-1] < 0.7 * mse[0]


def test_training_run_reloads_identically(trained):
    folder, model = trained
    reloaded = load_model(folder)
    ds = get_dataset("shapes-fb", "train", n=64)
    batch = ds.batch(np.arange(4))
    x, mask = batch["image"], batch["mask"]
    assert torch.equal(reloaded.reconstruct(x, mask), model.eval().reconstruct(x, mask))
    assert torch.equal(reloaded.background(x), model.background(x))


def test_dataset_without_a_mask_is_one_clear_error(tmp_path):
    assert "mask" not in get_dataset("multi-dsprites", "train", n=16).arrays  # per-object masks only
    run = TrainRun("bfvae", dict(TINY), "multi-dsprites", tmp_path / "run", train=TrainConfig(epochs=1, batch_size=16),
                   dataset_n=16)
    with pytest.raises(FactorbenchError, match="foreground mask.*shapes-fb"):
        train(run, progress=False)
    model = build_model("bfvae", TINY, SHAPE)
    with pytest.raises(FactorbenchError, match="foreground mask"):
        model.training_step({"image": torch.rand(2, *SHAPE)}, "train")
    with pytest.raises(FactorbenchError, match="encode_parts"):
        model.encode(torch.rand(2, *SHAPE))


def test_helpers_have_the_right_shapes():
    model = build_model("bfvae", {**TINY, "zf_dim": 3}, SHAPE).eval()
    bg, fg = square_batch(5, seed=1), square_batch(2, seed=2)
    grid = model.swap(bg["image"], fg["image"], fg["mask"])
    assert grid.shape == (2, 5, *SHAPE)
    # entry [i, j] is D_b(z_b of background j, z_f of foreground i)
    zb = model.encode_background(bg["image"])[0]
    zf = model.encode_parts(fg["image"], fg["mask"])["zf_mu"]
    assert torch.allclose(grid[1, 3], model.decode_parts(zb[3:4], zf[1:2])[0], atol=1e-6)
    assert model.background(bg["image"]).shape == (5, *SHAPE)
    assert model.reconstruct(bg["image"], bg["mask"]).shape == (5, *SHAPE)
    assert model.decode(torch.randn(2, 7)).shape == (2, *SHAPE)
    s = model.sample(3, torch.Generator().manual_seed(0))
    assert s.shape == (3, *SHAPE) and s.min() >= 0 and s.max() <= 1
    parts = model.encode_parts(bg["image"], bg["mask"])
    assert parts["zb_mu"].shape == (5, 4) and parts["zf_logvar"].shape == (5, 3)


def test_config_validation():
    with pytest.raises(FactorbenchError, match="likelihood"):
        build_model("bfvae", {"likelihood": "laplace"}, SHAPE)
    with pytest.raises(FactorbenchError, match="backbone"):
        build_model("bfvae", {"backbone": "vgg"}, SHAPE)
    with pytest.raises(FactorbenchError, match="attribute_label"):
        build_model("bfvae", {"attribute_mode": True}, SHAPE)


def test_attribute_mode_trains_with_exemplars():
    """§5.4.3: f is a fixed exemplar per class, stored in the checkpoint's buffers."""
    cfg = {**TINY, "attribute_mode": True, "attribute_label": "digit", "attribute_classes": 3}
    torch.manual_seed(0)
    model = build_model("bfvae", cfg, SHAPE)
    x = torch.rand(6, *SHAPE)
    labels = torch.tensor([2, 0, 2, 1, 0, 1])
    with pytest.raises(FactorbenchError, match="no exemplar"):
        model.encode_parts(x, labels=labels)
    out = model.training_step({"image": x, "labels": {"digit": labels}}, "train")
    out["loss"].backward()
    assert all(p.grad is not None for p in model.encoder_f.parameters())
    assert model.exemplar_set.all()
    for k, first in ((0, 1), (1, 3), (2, 0)):  # the first image of each class
        assert torch.equal(model.exemplars[k], x[first])
    # later batches do not replace them; set_exemplars does
    model.training_step({"image": torch.rand(6, *SHAPE), "labels": {"digit": labels}}, "train")
    assert torch.equal(model.exemplars[2], x[0])
    model.set_exemplars(x[2:3], torch.tensor([2]))
    assert torch.equal(model.exemplars[2], x[2])
    # f is the exemplar of the label, whatever the image
    f, m = model.foreground(torch.zeros(2, *SHAPE), labels=torch.tensor([1, 1]))
    assert torch.equal(f[0], x[3]) and torch.equal(m, torch.ones_like(m))
    # the exemplars travel with the weights
    copy = build_model("bfvae", cfg, SHAPE)
    copy.load_state_dict(model.state_dict(), strict=True)
    assert torch.equal(copy.exemplars, model.exemplars) and copy.exemplar_set.all()
    with pytest.raises(FactorbenchError, match="'digit'"):
        model.training_step({"image": x, "labels": {"shape": labels}}, "train")
    with pytest.raises(FactorbenchError, match="0..2"):
        model.training_step({"image": x, "labels": {"digit": labels + 1}}, "train")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # tiny data, 500 MLP epochs
def test_factor_probes_read_what_the_codes_hold():
    rng = np.random.default_rng(0)
    n, k = 240, 4
    y_train, y_test = rng.integers(0, k, n), rng.integers(0, k, n)

    def codes(y):  # z_f holds the label exactly, z_b is noise
        return {"zf": np.eye(k)[y] * 3 + 0.1 * rng.normal(size=(len(y), k)), "zb": rng.normal(size=(len(y), 6))}

    results = factor_probe_results(codes(y_train), y_train, codes(y_test), y_test)
    assert set(results) == {"linear_zf", "mlp_zf", "linear_zb", "mlp_zb"}
    for kind in ("linear", "mlp"):
        assert results[f"{kind}_zf"].train_acc == 1.0 and results[f"{kind}_zf"].test_acc == 1.0
        assert results[f"{kind}_zb"].test_acc < results[f"{kind}_zb"].chance + 0.12
    assert 0.25 <= results["mlp_zb"].chance < 0.4


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # tiny data, 500 MLP epochs
def test_factor_probe_evaluator_outputs(trained):
    _, model = trained
    train_ds, test_ds = get_dataset("shapes-fb", "train", n=64), get_dataset("shapes-fb", "test", n=32)
    codes = zf_zb_codes(model, test_ds, batch_size=20)
    assert codes["zf"].shape == (32, 4) and codes["zb"].shape == (32, 4)
    evaluator = EVALUATORS.get("probe_factors")
    params = {"labels": ["shape", "bg_colour"]}
    assert evaluator.targets(params) == ["shape", "bg_colour"]
    values = evaluator(EvalContext(model, train_ds, test_ds, batch_size=32), **params)
    got = {(v.metric, v.target) for v in values}
    assert got == {(m, t) for m in OUTPUTS for t in params["labels"]}
    assert all(0.0 <= v.value <= 1.0 for v in values)
    assert OUTPUTS["probe_mlp_zb_test_acc"] == "lower" and OUTPUTS["probe_mlp_zf_test_acc"] == "higher"
    with pytest.raises(FactorbenchError, match="labels"):
        evaluator(EvalContext(model, train_ds, test_ds), labels=[])
    no_mask = get_dataset("multi-dsprites", "test", n=16)
    with pytest.raises(FactorbenchError, match="mask"):
        zf_zb_codes(model, no_mask)


def test_resnet_backbone_of_bfvae_lsr_gan():
    """§5.4.2: BFVAE with residual encoders/decoders (4 blocks at 64x64, one linear layer)."""
    model = build_model("bfvae", {**TINY, "backbone": "resnet", "base_channels": 4}, (3, 64, 64))
    assert len(model.encoder_b.blocks) == 4 and len(model.decoder_b.blocks) == 4
    batch = {"image": torch.rand(2, 3, 64, 64), "mask": torch.ones(2, 1, 64, 64)}
    assert torch.isfinite(model.training_step(batch, "train")["loss"])


def test_object_addition_and_interpolation_grids():
    model = build_model("bfvae", {**TINY, "zf_dim": 3}, SHAPE).eval()
    batch = square_batch(2, seed=3)
    x, mask = batch["image"], batch["mask"]
    masks = torch.cat([mask[0], torch.zeros_like(mask[0])])  # object 1 = the square, object 2 empty
    rows = model.add_objects(x[0], masks)
    assert rows.shape == (3, *SHAPE)
    assert torch.allclose(rows[0], model.background(x[:1])[0], atol=1e-6)  # no objects = pure background
    assert torch.allclose(rows[1], model.reconstruct(x[:1], mask[:1])[0], atol=1e-6)
    grid = model.interpolate(x[0], x[1], 3, mask[0], mask[1])
    assert grid.shape == (3, 3, *SHAPE)
    assert torch.allclose(grid[0, 0], model.reconstruct(x[:1], mask[:1])[0], atol=1e-6)
    assert torch.allclose(grid[2, 2], model.reconstruct(x[1:], mask[1:])[0], atol=1e-6)
    # along a row z_b is fixed: the first row's z_b is image a's
    zb_a = model.encode_background(x[:1])[0]
    zf_b = model.encode_parts(x[1:], mask[1:])["zf_mu"]
    assert torch.allclose(grid[0, 2], model.decode_parts(zb_a, zf_b)[0], atol=1e-6)
