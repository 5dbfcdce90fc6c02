"""Thesis findings as checks over records (factorbench/bench/findings.py): each relation kind
on hand-made records with hand-computed verdicts, missing records never pass, and the
shipped findings file names only metrics its benchmarks' tables show."""

import json
import math

import pytest
from click.testing import CliRunner

from factorbench.bench.findings import (
    VERDICTS,
    compare_pairwise,
    compare_trend,
    evaluate_finding,
    load_findings,
    parse_findings,
    spearman,
)
from factorbench.bench.spec import load_spec
from factorbench.bench.store import make_record, write_record
from factorbench.cli import main
from factorbench.errors import FactorbenchError


def rec(model, metric, value, seed, grid=None, dataset="d", target=None, cell=None):
    return {"model": model, "metric": metric, "value": value, "seed": seed, "grid": grid or {},
            "dataset": {"name": dataset}, "target": target, "cell": cell or f"{model}-{seed}"}


def one(raw_checks, **extra):
    data = {"finding": [{"id": "x", "section": "§0", "claim": "c", "thesis": "t", "benchmark": "b",
                         "check": raw_checks, **extra}]}
    return parse_findings(data)[0]


# ---------------------------------------------------------------------------- pairwise
def test_greater_holds_when_difference_exceeds_two_standard_errors():
    # a: mean 10, var 1 (9, 10, 11); b: mean 5, var 1 -> se = sqrt(1/3 + 1/3) = 0.8165, 2se = 1.633
    r = compare_pairwise([9, 10, 11], [4, 5, 6], ">")
    assert r.verdict == "holds"
    assert "Δ = 5" in r.detail and "2·SE = 1.633" in r.detail


def test_greater_within_noise_and_opposite():
    # diff 1 < 2se 1.633: the right direction but not significant
    assert compare_pairwise([9, 10, 11], [8, 9, 10], ">").verdict == "holds, not significant"
    assert compare_pairwise([8, 9, 10], [9, 10, 11], ">").verdict == "fails, not significant"
    assert compare_pairwise([4, 5, 6], [9, 10, 11], ">").verdict == "contradicted"
    assert compare_pairwise([4, 5, 6], [9, 10, 11], "<").verdict == "holds"
    # equal means are never a pass of a strict relation
    assert compare_pairwise([1, 2, 3], [1, 2, 3], "<").verdict == "fails, not significant"


def test_approx_with_margin():
    # diff 0.1, 2se = 2*sqrt(0.01/3 + 0.01/3) = 0.1633
    a, b = [0.4, 0.5, 0.6], [0.3, 0.4, 0.5]
    assert compare_pairwise(a, b, "≈", margin=0.3).verdict == "holds"           # 0.1 + 0.163 <= 0.3
    assert compare_pairwise(a, b, "≈", margin=0.2).verdict == "holds, not significant"  # 0.1 <= 0.2 < 0.263
    assert compare_pairwise([1.4, 1.5, 1.6], b, "≈", margin=0.2).verdict == "contradicted"  # 1.1 - 0.163 > 0.2
    assert compare_pairwise([0.6, 0.7, 0.8], b, "≈", margin=0.2).verdict == "fails, not significant"  # 0.3


def test_differ_relation():
    assert compare_pairwise([9, 10, 11], [4, 5, 6], "!=").verdict == "holds"
    assert compare_pairwise([9, 10, 11], [4, 5, 6][::-1], "!=").verdict == "holds"
    assert compare_pairwise([9, 10, 11], [9, 10, 12], "!=").verdict == "fails, not significant"


def test_one_seed_or_no_record_is_not_measured():
    assert compare_pairwise([1.0], [0.0, 0.1], ">").verdict == "not measured"
    assert compare_pairwise([], [0.0, 0.1], ">").verdict == "not measured"


# ---------------------------------------------------------------------------- trends
def test_spearman_hand_cases():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks y = 1, 3, 2, 4: rho = 1 - 6*(0+1+1+0)/(4*15) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5]))


def test_trend_needs_end_points_and_rank_sign():
    rising = {1.0: [1, 2, 3], 5.0: [4, 5, 6], 20.0: [9, 10, 11]}
    assert compare_trend(rising, "increasing", "beta").verdict == "holds"
    assert compare_trend(rising, "decreasing", "beta").verdict == "contradicted"
    # end points differ significantly, but the middle breaks the order: rho = 0.5 > 0 still holds
    bumpy = {1.0: [1, 2, 3], 5.0: [19, 20, 21], 20.0: [9, 10, 11]}
    r = compare_trend(bumpy, "increasing", "beta")
    assert r.verdict == "holds" and "ρ = 0.5" in r.ours
    # end points significant, ranks going the other way overall: not a clean pass
    # means 10, 50, 40, 30, 11, 12: ranks 1 6 5 4 2 3, rho = 1 - 6*38/210 = -0.086
    zigzag = {1.0: [9, 10, 11], 2.0: [49, 50, 51], 3.0: [39, 40, 41], 4.0: [29, 30, 31], 5.0: [10, 11, 12],
              6.0: [11, 12, 13]}
    assert spearman([1, 2, 3, 4, 5, 6], [10, 50, 40, 30, 11, 12]) == pytest.approx(1 - 6 * 38 / 210)
    assert compare_trend(zigzag, "increasing", "beta").verdict == "holds, not significant"
    assert compare_trend({1.0: [1, 2]}, "increasing", "beta").verdict == "not measured"


# ---------------------------------------------------------------------------- findings over records
def test_for_each_takes_the_worst_grid_value():
    f = one([{"relation": "<", "metric": "mse", "a": {"model": "vae"}, "b": {"model": "lsr"}, "for_each": "beta"}])
    records = []
    for seed in range(3):
        records += [rec("vae", "mse", 10 + seed, seed, {"beta": 1.0}), rec("lsr", "mse", 20 + seed, seed, {"beta": 1.0}),
                    rec("vae", "mse", 10 + seed, seed, {"beta": 4}), rec("lsr", "mse", 10.5 + seed, seed, {"beta": 4.0})]
    r = evaluate_finding(f, records, "quick")
    assert r.verdict == "holds, not significant"  # β=1 holds, β=4 only on the means
    assert "beta=1" in r.ours and "beta=4" in r.ours  # 4 and 4.0 are one grid value
    assert r.seeds == 3


def test_for_each_with_a_value_only_one_side_has_is_not_measured():
    f = one([{"relation": "<", "metric": "mse", "a": {"model": "vae"}, "b": {"model": "lsr"}, "for_each": "beta"}])
    records = []
    for seed in range(3):
        records += [rec("vae", "mse", 10 + seed, seed, {"beta": 1.0}), rec("lsr", "mse", 20 + seed, seed, {"beta": 1.0}),
                    rec("vae", "mse", 10 + seed, seed, {"beta": 5.0})]  # no LSR-GAN at beta 5
    r = evaluate_finding(f, records, "quick")
    assert r.verdict == "not measured" and "beta=5" in r.ours


def test_missing_side_is_not_measured_never_a_pass():
    f = one([{"relation": ">", "metric": "sharpness", "a": {"model": "lsr_gan"}, "b": {"model": "vae"}}])
    records = [rec("vae", "sharpness", 0.1 * s, s) for s in range(3)]
    assert evaluate_finding(f, records, "quick").verdict == "not measured"
    assert evaluate_finding(f, [], "quick").verdict == "not measured"


def test_nan_value_counts_as_missing_seed():
    f = one([{"relation": ">", "metric": "m", "a": {"model": "a"}, "b": {"model": "b"}}])
    records = [rec("a", "m", 10.0, 0), rec("a", "m", float("nan"), 1), rec("b", "m", 0.0, 0), rec("b", "m", 0.1, 1)]
    assert evaluate_finding(f, records, "q").verdict == "not measured"  # a has one finite seed


def test_worst_check_wins_and_own_target():
    f = one([{"relation": ">", "metric": "ap", "a": {"model": "said", "target": "own"}, "b": {"model": "space", "target": "own"}},
             {"relation": "<", "metric": "ap", "a": {"model": "said", "target": "own"}, "b": {"model": "space", "target": "own"}}])
    records = []
    for s in range(2):
        records += [rec("said", "ap", 0.5 + 0.01 * s, s), rec("space", "ap", 0.3 + 0.01 * s, s),
                    rec("said", "ap", 0.1, s, target="other"), rec("space", "ap", 0.9, s, target="other")]
    r = evaluate_finding(f, records, "q")
    assert [c.verdict for c in r.checks] == ["holds", "contradicted"]
    assert r.verdict == "contradicted"


def test_ambiguous_selector_is_an_error():
    f = one([{"relation": ">", "metric": "ap", "a": {"model": "said"}, "b": {"model": "space"}}])
    records = [rec("said", "ap", 0.5, 0), rec("said", "ap", 0.1, 0, target="other"), rec("space", "ap", 0.3, 0)]
    with pytest.raises(FactorbenchError, match="more than one record of seed 0"):
        evaluate_finding(f, records, "q")


def test_where_bounds_the_grid():
    f = one([{"relation": "increasing", "metric": "mse", "over": "beta", "a": {"model": "vae"},
              "where": {"beta": {"min": 1}}}])
    records = []
    for s in range(3):
        records += [rec("vae", "mse", 100 + s, s, {"beta": 0.1}), rec("vae", "mse", 10 + s, s, {"beta": 1}),
                    rec("vae", "mse", 20 + s, s, {"beta": 5}), rec("vae", "mse", 40 + s, s, {"beta": 20})]
    assert evaluate_finding(f, records, "q").verdict == "holds"  # 0.1 would break the trend


@pytest.mark.parametrize("check, message", [
    ({"relation": "=>", "metric": "m", "a": {}, "b": {}}, "is not one of"),
    ({"relation": ">", "metric": "m", "a": {}}, "give `b`"),
    ({"relation": "≈", "metric": "m", "a": {}, "b": {}}, "positive `margin`"),
    ({"relation": "increasing", "metric": "m", "a": {}}, "needs `over`"),
    ({"relation": ">", "a": {}, "b": {}}, "no metric"),
    ({"relation": ">", "metric": "m", "a": {}, "b": {}, "colour": 1}, "unknown key"),
])
def test_bad_findings_are_one_line(check, message):
    with pytest.raises(FactorbenchError, match=message):
        one([check])


# ---------------------------------------------------------------------------- the shipped file
def test_shipped_findings_name_columns_of_their_tables():
    """Every check reads a metric its benchmark's table shows and models/variants the spec
    has, so a typo cannot sit there forever as 'not measured'."""
    findings = load_findings()
    assert len(findings) >= 20
    ids = {f.id for f in findings}
    for wanted in ["3.sharp", "3.fid-test", "3.fid-rand", "3.1.mse", "3.1.mse-beta", "3.1.acc-beta", "3.1.acc-lsr",
                   "3.2.var", "3.2.mse", "3.2.acc", "4.tune", "5.2.shape", "5.3.modes", "5.3.lsr", "5.7.zb",
                   "6.1.ap", "6.1.count", "6.2.unfixed", "6.2.said", "6.3.scope"]:
        assert wanted in ids
    for f in findings:
        spec = load_spec(f.benchmark)
        models = set()
        for p in spec.presets:
            models |= set(spec.preset(p).models)
        for c in f.checks:
            for side in (c.a, c.b):
                if side is None:
                    continue
                assert side.metric in spec.table.columns, (f.id, side.metric)
                model = dict(side.keys).get("model")
                assert model is None or model in models, (f.id, model)


def test_findings_cli_on_records_of_a_real_spec(tmp_path):
    spec = load_spec("vae_beta_sweep")
    cells = spec.cells("ci", 3)
    for cell in cells:
        value = 100.0 + 10 * float(cell.grid["beta"]) + cell.seed
        r = make_record(benchmark=spec.name, preset="ci", cell_id=cell.id, metric="recon_mse", value=value,
                        model=cell.model, dataset={"name": "digits-rgb"}, hparams={}, train={}, grid=cell.grid,
                        seed=cell.seed, protocol={}, checkpoint="")
        write_record(tmp_path, r)
    res = CliRunner().invoke(main, ["findings", "vae_beta_sweep", "--preset", "ci", "--results", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert [r["id"] for r in out] == ["3.1.mse-beta-sweep"]
    assert out[0]["verdict"] == "holds" and out[0]["seeds"] == 3
    text = CliRunner().invoke(main, ["findings", "vae_beta_sweep", "--preset", "ci", "--results", str(tmp_path)]).output
    assert "| 3.1.mse-beta-sweep |" in text and "holds" in text
    missing = CliRunner().invoke(main, ["findings", "lsr_gan_beta", "--preset", "ci", "--results", str(tmp_path), "--json"])
    assert {r["verdict"] for r in json.loads(missing.output)} == {"not measured"}
    assert set(VERDICTS) >= {r["verdict"] for r in out}
