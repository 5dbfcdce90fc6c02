"""The object_discovery evaluator (docs/protocols.md §4.4; Tables 6.1/6.3): known answers on stub models."""

import numpy as np
import pytest
import torch

from factorbench.data import get_dataset
from factorbench.data.dataset import ArrayDataset
from factorbench.errors import FactorbenchError
from factorbench.evaluators import DIRECTIONS, EVALUATORS, EvalContext
from factorbench.evaluators.object_discovery import evaluate_object_discovery
from factorbench.models.objects import Detections

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N = 12


@pytest.fixture(scope="module")
def ds():
    return get_dataset("multi-digits", "test", n=N)


class StubModel(torch.nn.Module):
    """Answers glimpse() with the dataset's boxes, in order of the images it is shown
    (the evaluator walks the test split from the start)."""

    name = "stub"

    def __init__(self, ds, mode="gt", extra=0):
        super().__init__()
        self.ds, self.mode, self.extra, self.seen, self.ks = ds, mode, extra, 0, []

    def glimpse(self, x):
        b = x.shape[0]
        idx = np.arange(self.seen, self.seen + b)
        self.seen += b
        if self.mode == "empty":
            return Detections(torch.zeros(b, 0, 4), torch.zeros(b, 0), torch.zeros(b, 0, 3),
                              torch.zeros(b, 0, dtype=torch.bool))
        boxes = torch.as_tensor(self.ds.arrays["boxes"][idx], dtype=torch.float32)
        count = torch.as_tensor(self.ds.arrays["count"][idx])
        k = boxes.shape[1]
        keep = torch.arange(k)[None, :] < count[:, None]
        scores = torch.arange(k, 0, -1, dtype=torch.float32).expand(b, k).clone()
        scores[~keep] = 0.0  # the padded slots: candidates below every real one
        if self.extra:  # confident far-off candidates the model does not keep
            junk = torch.tensor([0.0, 0.0, 1.0, 1.0]).expand(b, self.extra, 4)
            boxes = torch.cat([junk, boxes], 1)
            scores = torch.cat([torch.full((b, self.extra), 100.0), scores], 1)
            keep = torch.cat([torch.zeros(b, self.extra, dtype=torch.bool), keep], 1)
        return Detections(boxes, scores, torch.zeros(b, boxes.shape[1], 3), keep)


class SequentialStub(StubModel):
    """A glimpse model with a number of glimpses and a per-step trace (like SAID)."""

    def glimpse(self, x, k=None):
        self.ks.append(k)
        return super().glimpse(x)

    def trace(self, x, k=None):  # pragma: no cover - only its presence matters
        raise NotImplementedError


def run(ds, model, batch_size=5, **params):
    ctx = EvalContext(model=model, train=ds, test=ds, batch_size=batch_size, figures=params.pop("figures", None))
    return {m.metric: m for m in evaluate_object_discovery(ctx, **params)}


def test_registered_with_directions():
    assert "object_discovery" in EVALUATORS.names()
    assert DIRECTIONS["ap_spair"] == DIRECTIONS["ap_space"] == "higher"
    for name in ("count_error_abs", "count_error_01", "count_error_rel"):
        assert DIRECTIONS[name] == "lower"


def test_ground_truth_boxes_give_ap_one_and_no_count_error(ds, tmp_path):
    out = run(ds, StubModel(ds), figures=tmp_path)
    assert out["ap_spair"].value == pytest.approx(1.0)
    assert out["ap_space"].value == pytest.approx(1.0)
    for name in ("count_error_abs", "count_error_01", "count_error_rel"):
        assert out[name].value == 0.0
    p = out["ap_spair"].protocol
    assert p["n"] == N and p["iou_thresholds"] == pytest.approx([0.1 * i for i in range(1, 10)])
    assert out["ap_space"].protocol["iou_thresholds"] == pytest.approx([0.5 + 0.05 * i for i in range(10)])
    assert p["candidates"] == "all" and p["matching"] == "reference" and p["ties"] == "merge"
    assert p["gt_boxes"] == p["gt_boxes_used"] == "tight" and "matching_rule" in p and "tie_rule" in p
    assert "0.1:0.1:0.9" in p["definition"] and "11-point" in p["definition"]
    assert out["ap_space"].protocol["definition"] == p["definition"]  # one caption line for both APs
    assert (tmp_path / "boxes.png").stat().st_size > 0


def test_no_detections_give_ap_zero_and_the_mean_count_as_error(ds):
    out = run(ds, StubModel(ds, mode="empty"))
    true = ds.arrays["count"][:N]
    assert out["ap_spair"].value == 0.0 and out["ap_space"].value == 0.0
    assert out["count_error_abs"].value == pytest.approx(true.mean())
    assert out["count_error_01"].value == 1.0
    assert out["count_error_rel"].value == pytest.approx(1.0)


def test_the_candidate_set_applies_alike_to_every_model(ds):
    """§6.4.1: SAID's AP ranks all K = 9 glimpses while its count comes from the stop rule; the
    same candidate set is used for per-cell and sequential models, in both protocols."""
    for model_class in (StubModel, SequentialStub):
        every = run(ds, model_class(ds, extra=2), k=9)  # default: every candidate
        kept = run(ds, model_class(ds, extra=2), candidates="kept", k=9)
        for name in ("ap_spair", "ap_space"):
            assert every[name].value < 0.9  # confident false positives come first
            assert kept[name].value == pytest.approx(1.0)
            assert every[name].protocol["candidates"] == "all" and kept[name].protocol["candidates"] == "kept"
        assert every["count_error_abs"].value == 0.0 and kept["count_error_abs"].value == 0.0


def test_unkept_candidates_ranked_last_cannot_lower_ap(ds):
    # the stub's padded slots (zero boxes, score 0) are candidates too: ranked after every real
    # box, they add points beyond recall 1 only
    assert run(ds, StubModel(ds))["ap_spair"].protocol["n_predictions"] == N * 5
    assert run(ds, StubModel(ds))["ap_spair"].value == pytest.approx(1.0)


class FrameStub(StubModel):
    """A perfect detector of the digits' placed frames."""

    def glimpse(self, x):
        det = super().glimpse(x)
        idx = np.arange(self.seen - x.shape[0], self.seen)
        det.boxes = torch.as_tensor(self.ds.arrays["frame_boxes"][idx], dtype=torch.float32)
        return det


def test_both_ground_truth_box_conventions(ds):
    frame = run(ds, FrameStub(ds), gt_boxes="frame")
    tight = run(ds, FrameStub(ds))
    assert frame["ap_spair"].value == pytest.approx(1.0) and frame["ap_space"].value == pytest.approx(1.0)
    assert frame["ap_spair"].protocol["gt_boxes_used"] == "frame"
    assert tight["ap_space"].value < 0.9  # frames are larger than the digits: IoU with tight boxes < 1
    assert run(ds, StubModel(ds), gt_boxes="frame")["ap_space"].value < 0.9
    no_frames = ArrayDataset("boxes-only", "test", {k: ds.arrays[k] for k in ("image", "count", "boxes")})
    out = run(no_frames, StubModel(ds), gt_boxes="frame")
    assert out["ap_spair"].value == pytest.approx(1.0)
    assert out["ap_spair"].protocol["gt_boxes"] == "frame" and out["ap_spair"].protocol["gt_boxes_used"] == "tight"


def test_external_scores_stay_float64(tmp_path):
    """Scores 0.90000002 (a hit in image 0) and 0.90000001 (a miss in image 1) do not tie:
    T, F, T (image 1's hit at 0.5) -> precision 1 at recall 1/2, 2/3 at recall 1:
    AP = (6 + 5 * 2/3) / 11 = 28/33 at every threshold. Through float32 they would tie and
    merge into one point (1/2 at recall 1/2) and give 2/3."""
    from factorbench.metrics.detection_io import read_predictions
    from factorbench.evaluators.object_discovery import PredictedBoxes

    images = np.zeros((2, 1, 64, 64), np.uint8)
    gt = np.array([[[4, 4, 20, 20]], [[30, 30, 50, 50]]], np.float32)
    two = ArrayDataset("two", "test", {"image": images, "count": np.array([1, 1]), "boxes": gt})
    (tmp_path / "p.csv").write_text("index,x0,y0,x1,y1,score\n0,4,4,20,20,0.90000002\n1,0,0,3,3,0.90000001\n"
                                    "1,30,30,50,50,0.5\n")
    preds = read_predictions(tmp_path / "p.csv", 2)
    out = run(two, PredictedBoxes(preds.boxes, preds.scores))
    assert out["ap_spair"].value == pytest.approx(28 / 33) and out["ap_space"].value == pytest.approx(28 / 33)
    tied = read_predictions(tmp_path / "p.csv", 2)
    tied.scores[0][:] = tied.scores[1][0]  # what float32 made of it
    assert run(two, PredictedBoxes(tied.boxes, tied.scores))["ap_spair"].value == pytest.approx(2 / 3)


def test_k_is_passed_only_to_models_that_take_it(ds):
    model = SequentialStub(ds)
    run(ds, model, k=9)
    assert model.ks and set(model.ks) == {9}
    model = SequentialStub(ds)
    run(ds, model)
    assert set(model.ks) == {None}
    run(ds, StubModel(ds), k=9)  # no k in its glimpse: not passed, no error


def test_clear_errors(ds):
    with pytest.raises(FactorbenchError, match="glimpse"):
        run(ds, torch.nn.Linear(1, 1))
    no_boxes = ArrayDataset("flat", "test", {"image": ds.arrays["image"], "count": ds.arrays["count"]})
    with pytest.raises(FactorbenchError, match="boxes"):
        run(no_boxes, StubModel(ds))
    with pytest.raises(FactorbenchError, match="candidates"):
        run(ds, StubModel(ds), candidates="some")
    for option in ("matching", "ties", "gt_boxes"):
        with pytest.raises(FactorbenchError, match=option):
            run(ds, StubModel(ds), **{option: "nonsense"})


def test_generalisation_scores_other_datasets_as_targets(tmp_path):
    """§6.4.3: the same model scored on another dataset's test split (converted to its input)."""
    from factorbench.data import get_dataset
    from factorbench.evaluators import EVALUATORS, EvalContext
    from factorbench.models import build_model

    digits = get_dataset("multi-digits", "test", n=8)
    model = build_model("said", {"base_channels": 4, "glimpses": 2, "eval_glimpses": 3}, digits.image_shape)
    ctx = EvalContext(model, digits, digits, figures=tmp_path, batch_size=8)
    values = EVALUATORS.get("object_discovery")(ctx, n=8, datasets=["multi-dsprites"])
    targets = {v.target for v in values}
    assert targets == {None, "multi-dsprites"}
    assert all(v.protocol["dataset"] == ("multi-dsprites" if v.target else "multi-digits") for v in values)
    assert (tmp_path / "boxes_multi-dsprites.png").exists() and (tmp_path / "boxes.png").exists()
    assert EVALUATORS.get("object_discovery").targets({"datasets": ["multi-dsprites"]}) == [None, "multi-dsprites"]


def test_glimpse_step_and_error_map_figures(tmp_path):
    from factorbench.data import get_dataset
    from factorbench.evaluators import EVALUATORS, EvalContext
    from factorbench.models import build_model

    digits = get_dataset("multi-digits", "test", n=4)
    model = build_model("said", {"base_channels": 4, "glimpses": 2, "eval_glimpses": 3}, digits.image_shape)
    EVALUATORS.get("object_discovery")(EvalContext(model, digits, digits, figures=tmp_path, batch_size=4), n=4)
    assert (tmp_path / "glimpses.png").stat().st_size > 0 and (tmp_path / "glimpses_errors.png").stat().st_size > 0


def test_cli_scores_a_predictions_file_with_the_same_code(tmp_path):
    """External predictions (JSON) of the ground-truth boxes score AP 1 and count error 0;
    dropping every box gives AP 0."""
    from click.testing import CliRunner

    from factorbench.cli import main
    from factorbench.data import get_dataset
    from factorbench.metrics.detection_io import write_predictions_json

    test = get_dataset("multi-digits", "test")  # the split the CLI scores against (default size)
    boxes = [test.arrays["boxes"][i, :test.arrays["count"][i]] for i in range(12)]  # the rest: no predictions
    write_predictions_json(tmp_path / "gt.json", boxes, [np.linspace(1, 0.5, len(b)) for b in boxes])
    result = CliRunner().invoke(main, ["run", "detection", str(tmp_path / "gt.json"), "--dataset", "multi-digits",
                                       "--n", "12"])
    assert result.exit_code == 0, result.output
    values = dict(line.split() for line in result.output.strip().splitlines())
    assert float(values["ap_spair"]) == 1.0 and float(values["ap_space"]) == 1.0
    assert float(values["count_error_abs"]) == 0.0
    bad = CliRunner().invoke(main, ["run", "detection", str(tmp_path / "gt.json")])
    assert bad.exit_code != 0 and "--dataset" in bad.output


def test_ap_of_a_predictions_file_does_not_depend_on_the_image_order(ds):
    """External predictions with glimpse-order scores (ties across images) and duplicates:
    the same AP whatever order the images (and their predictions) come in."""
    from factorbench.evaluators.object_discovery import PredictedBoxes

    rng = np.random.default_rng(0)
    boxes, scores = [], []
    for i in range(N):
        gt = ds.arrays["boxes"][i, :ds.arrays["count"][i]].astype(np.float64)
        found = np.vstack([gt, gt[:1]]) + rng.normal(0, 1.5, (len(gt) + 1, 4))  # the first object twice
        found = np.hstack([np.minimum(found[:, :2], found[:, 2:]), np.maximum(found[:, :2], found[:, 2:])])
        boxes.append(found)
        scores.append(np.arange(len(found), 0, -1, dtype=np.float64))
    base = run(ds, PredictedBoxes(boxes, scores))
    assert 0.2 < base["ap_space"].value < 1.0
    for seed in range(2):
        perm = np.random.default_rng(seed).permutation(N)
        moved = ArrayDataset("moved", "test", {k: v[perm] for k, v in ds.arrays.items()})
        out = run(moved, PredictedBoxes([boxes[i] for i in perm], [scores[i] for i in perm]))
        assert out["ap_spair"].value == base["ap_spair"].value and out["ap_space"].value == base["ap_space"].value
