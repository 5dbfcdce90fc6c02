"""The digit-sum task (docs/protocols.md §4.4; thesis §6.4.2, Table 6.2): order invariance, an oracle
latent, the evaluator end to end on a tiny SAID, and clear errors."""

import pytest
import torch

from factorbench.data import get_dataset
from factorbench.data.dataset import ArrayDataset
from factorbench.errors import FactorbenchError
from factorbench.evaluators.digit_sum import collect_patches, evaluate_digit_sum
from factorbench.metrics.digit_sum import (DigitMLP, first_kept, first_ranked, predict_sums, sum_accuracy,
                                           train_digit_regressor)
from factorbench.models.objects import Detections
from factorbench.evaluators import DIRECTIONS, EVALUATORS, EvalContext
from factorbench.models import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def oracle(n, seed):
    """Latents that are the one-hot of each of 5 digits, and the image sums."""
    g = torch.Generator().manual_seed(seed)
    digits = torch.randint(0, 10, (n, 5), generator=g)
    return torch.nn.functional.one_hot(digits, 10).float(), digits.sum(1)


def test_prediction_is_invariant_to_glimpse_order():
    torch.manual_seed(0)
    mlp = DigitMLP(6)
    z = torch.randn(7, 5, 6)
    keep = torch.rand(7, 5) > 0.3
    perm = torch.randperm(5)
    a = predict_sums(mlp, z, first_kept(keep))
    b = predict_sums(mlp, z[:, perm], first_kept(keep[:, perm]))
    assert torch.allclose(a, b, atol=1e-5)


def test_only_the_first_five_kept_glimpses_count():
    keep = torch.tensor([[1, 0, 1, 1, 1, 1, 1, 1], [0, 0, 1, 0, 0, 0, 0, 0]], dtype=torch.bool)
    expect = torch.tensor([[1, 0, 1, 1, 1, 1, 0, 0], [0, 0, 1, 0, 0, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(first_kept(keep), expect)
    assert sum_accuracy(torch.tensor([2.4, 3.6, 9.0]), torch.tensor([2, 3, 9])) == pytest.approx(2 / 3)


def test_first_ranked_takes_the_five_most_confident_whatever_is_kept():
    said_like = torch.arange(9, 0, -1, dtype=torch.float32).expand(2, 9)  # K - t
    assert torch.equal(first_ranked(said_like), torch.arange(9).expand(2, 9) < 5)
    pres = torch.tensor([[0.1, 0.9, 0.3, 0.95, 0.2, 0.6, 0.7, 0.05, 0.4]])  # SPAIR-like z_pres
    assert first_ranked(pres)[0].tolist() == [False, True, False, True, False, True, True, False, True]
    ties = torch.tensor([[1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]])  # equal scores keep candidate order
    assert first_ranked(ties)[0].tolist() == [False, True, True, True, True, True, False]


class EarlyStopStub(torch.nn.Module):
    """9 glimpses whose stop rule fires after 2 (keep = first 2), SAID-like scores K - t; the
    patches are the glimpse index, so the mask can be read off."""

    name = "early_stop"

    def glimpse_patches(self, x, k=None):
        b = x.shape[0]
        patches = torch.arange(9.0).view(1, 9, 1, 1, 1).expand(b, 9, 1, 8, 8)
        keep = torch.arange(9)[None, :].expand(b, 9) < 2
        return patches, keep

    def glimpse(self, x, k=None):
        b = x.shape[0]
        return Detections(torch.zeros(b, 9, 4), torch.arange(9.0, 0, -1).expand(b, 9).clone(), torch.zeros(b, 9, 1),
                          torch.arange(9)[None, :].expand(b, 9) < 2)


def test_the_first_five_glimpses_are_summed_even_after_an_early_stop(digits5):
    """§6.4.2: "the first 5 predictions are the inputs that we use ... while we do not have any
    presence parameters": glimpses 0-4 are summed although the stop rule keeps 0-1."""
    _, test = digits5
    ctx = EvalContext(model=EarlyStopStub(), train=test, test=test, batch_size=4)
    first = collect_patches(ctx, test, 8, "model", None)
    assert first["mask"].sum(1).tolist() == [5] * 8
    assert first["patches"][first["mask"]][:, 0, 0, 0].view(8, 5)[0].tolist() == [0, 1, 2, 3, 4]
    kept = collect_patches(ctx, test, 8, "model", None, glimpse_set="kept")
    assert kept["mask"].sum(1).tolist() == [2] * 8
    # the GT row: the image's (5) ground-truth boxes, in both conventions
    for convention in ("tight", "frame"):
        assert collect_patches(ctx, test, 8, "gt", None, gt_boxes=convention)["mask"].sum(1).tolist() == [5] * 8


def test_an_oracle_latent_learns_the_digit_values_from_sums_alone():
    z, sums = oracle(512, 0)
    mask = torch.ones(512, 5, dtype=torch.bool)
    reg = train_digit_regressor(z, mask, sums, epochs=40, lr=3e-3, seed=0, batch_size=64)
    z_te, sums_te = oracle(256, 1)
    assert sum_accuracy(reg.predict(z_te, torch.ones(256, 5, dtype=torch.bool)), sums_te) >= 0.98
    # each glimpse's output is the digit's value (the thesis's "3 should have an output of 3")
    values = reg.mlp(torch.eye(10)).detach()
    assert torch.allclose(values, torch.arange(10.0), atol=0.3)
    # deterministic given the seed, and the global RNG is left alone
    state = torch.random.get_rng_state()
    again = train_digit_regressor(z[:64], mask[:64], sums[:64], epochs=1, seed=3)
    same = train_digit_regressor(z[:64], mask[:64], sums[:64], epochs=1, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(again.mlp(z[:4]), same.mlp(z[:4]))


def test_unfixed_trains_the_encoder_with_the_mlp():
    z, sums = oracle(64, 0)
    patches = z.reshape(64, 5, 1, 1, 10)  # "patches" whose encoder is a linear layer
    enc = torch.nn.Linear(10, 4)
    before = enc.weight.detach().clone()
    reg = train_digit_regressor(None, torch.ones(64, 5, dtype=torch.bool), sums, epochs=2, lr=1e-2, seed=0,
                                encoder=lambda p: enc(p.flatten(-3)), patches=patches,
                                encoder_params=enc.parameters())
    assert not torch.equal(before, enc.weight)
    assert reg.predict(patches, torch.ones(64, 5, dtype=torch.bool)).shape == (64,)


@pytest.fixture(scope="module")
def digits5():
    return get_dataset("multi-digits-5", "train", n=12), get_dataset("multi-digits-5", "test", n=8)


def tiny_said():
    torch.manual_seed(0)
    return build_model("said", {"base_channels": 4, "glimpses": 3, "eval_glimpses": 6}, (1, 64, 64))


def test_evaluator_end_to_end_on_a_tiny_said(digits5):
    assert "digit_sum" in EVALUATORS.names()
    assert DIRECTIONS["digit_sum_unfixed_test_acc"] == "higher"
    train, test = digits5
    model = tiny_said()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ctx = EvalContext(model=model, train=train, test=test, batch_size=8)
    out = evaluate_digit_sum(ctx, epochs=1)
    assert EVALUATORS.get("digit_sum").targets({}) == ["gt", "model"]
    assert sorted((m.target, m.metric) for m in out) == sorted(
        (row, f"digit_sum_{mode}_{split}_acc") for row in ("gt", "model") for mode in ("fixed", "unfixed")
        for split in ("train", "test"))
    for m in out:
        assert 0.0 <= m.value <= 1.0
        assert m.protocol["n_train"] == 12 and m.protocol["n_test"] == 8 and m.protocol["epochs"] == 1
        assert "sum" in m.protocol["supervision"]
        if m.target == "model":
            assert m.protocol["glimpse_set"] == "first" and "kept or not" in m.protocol["glimpses_used"]
        else:
            assert m.protocol["gt_boxes"] == "tight"
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the checkpoint is not fine-tuned
    one = evaluate_digit_sum(ctx, epochs=1, modes=["fixed"], rows="model", n_train=4, n_test=4)
    assert [(m.target, m.metric) for m in one] == [("model", "digit_sum_fixed_train_acc"),
                                                   ("model", "digit_sum_fixed_test_acc")]


def test_clear_errors(digits5):
    train, test = digits5
    no_sum = ArrayDataset("plain", "train", {"image": train.arrays["image"], "count": train.arrays["count"],
                                             "boxes": train.arrays["boxes"]})
    model = tiny_said()
    with pytest.raises(FactorbenchError, match="'sum'"):
        evaluate_digit_sum(EvalContext(model=model, train=no_sum, test=no_sum), epochs=1)
    with pytest.raises(FactorbenchError, match="encode_patches"):
        evaluate_digit_sum(EvalContext(model=torch.nn.Linear(1, 1), train=train, test=test), epochs=1)
    with pytest.raises(FactorbenchError, match="mode"):
        evaluate_digit_sum(EvalContext(model=model, train=train, test=test), modes=["frozen"])
    with pytest.raises(FactorbenchError, match="glimpse_set"):
        evaluate_digit_sum(EvalContext(model=model, train=train, test=test), glimpse_set="last")
    with pytest.raises(FactorbenchError, match="gt_boxes"):
        evaluate_digit_sum(EvalContext(model=model, train=train, test=test), gt_boxes="loose")
    with pytest.raises(FactorbenchError, match="mask"):
        train_digit_regressor(torch.zeros(4, 5, 3), torch.ones(4, 6, dtype=torch.bool), torch.zeros(4))
    with pytest.raises(FactorbenchError):
        train_digit_regressor(torch.zeros(4, 5, 3), torch.ones(3, 5, dtype=torch.bool), torch.zeros(4))
