"""The regression (factorbench/bench/regress.py, goldens.py; docs/protocols.md §5): metric goldens on fixed
inputs, ci-preset baselines with seed-spread tolerances, values at chance refused.

Tests marked ``regress`` run the real thing (the full `factorbench regress`, minutes) and
are CI's second step (``pytest -m regress``, see .ci/run); the unit suite deselects them.
They show that the committed baselines hold and that a broken metric (FID without its mean
term) or a broken encoder (returning zeros) makes `regress` fail.
"""

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from factorbench.bench import goldens
from factorbench.bench.regress import at_chance, chance_metric, compare, compare_goldens, make_baseline, read_baseline, tolerance
from factorbench.bench.cells import checkpoint_dir
from factorbench.bench.spec import load_spec, spec_names
from factorbench.cli import main
from factorbench.evaluators import EVALUATORS
from factorbench.paths import baselines_dir

CI_SPECS = [n for n in spec_names() if "ci" in load_spec(n).presets]


def records(metric, per_cell, model="vae"):
    """Records of vae_beta_sweep-shaped cells: ``per_cell`` maps β to the per-seed values."""
    return [{"model": model, "grid": {"beta": beta}, "metric": metric, "seed": s, "value": v}
            for beta, vals in per_cell.items() for s, v in enumerate(vals)]


# ---------------------------------------------------------------------------- tolerances
def test_baseline_tolerance_follows_the_seed_spread():
    spec = load_spec("vae_beta_sweep")
    recs = records("m", {1.0: [1.0, 2.0, 3.0], 2.0: [5.0, 5.0, 8.0]})  # variances 1 and 3
    b = make_baseline(spec, recs)
    sigma = ((1.0 + 3.0) / 2) ** 0.5  # pooled over the two cells
    assert b["metrics"]["m"]["pooled_seed_std"] == pytest.approx(sigma)
    assert tolerance(b, "m", 2.0) == pytest.approx(3 * sigma * (2 / 3) ** 0.5)


def test_the_chance_level_of_an_accuracy_is_found_by_its_name():
    available = {"probe_linear_chance", "probe_chance", "recon_mse"}
    assert chance_metric("probe_linear_test_acc", available) == "probe_linear_chance"
    assert chance_metric("probe_mlp_zb_test_acc", available) == "probe_chance"
    assert chance_metric("recon_mse", available) is None
    assert chance_metric("recon_cls_abs_acc", available) is None


def test_a_value_whose_band_reaches_chance_is_refused_and_never_fails():
    """The committed ci probe of vae_beta_sweep was 0.1445 ± 0.0465 against chance 0.1328:
    an encoder at chance passed. Such a value is refused; one clear of chance is kept."""
    spec = load_spec("vae_beta_sweep")
    recs = (records("probe_linear_test_acc", {0.5: [0.12, 0.17, 0.14], 4.0: [0.60, 0.62, 0.61]})
            + records("probe_linear_chance", {0.5: [0.1328] * 3, 4.0: [0.1328] * 3})
            + records("recon_mse", {0.5: [212.0, 213.0, 211.0], 4.0: [214.0, 215.0, 213.0]}))
    b = make_baseline(spec, recs)
    assert [(r["row"], r["metric"]) for r in b["refused"]] == [(0.5, "probe_linear_test_acc")]
    assert "reaches chance 0.1328" in b["refused"][0]["reason"]
    kept = {(v["row"], v["metric"]) for v in b["values"]}
    assert (4.0, "probe_linear_test_acc") in kept and (0.5, "recon_mse") in kept
    assert (0.5, "probe_linear_test_acc") not in kept
    # compared: a refused value is shown, whatever it is now, and does not fail
    drifts = {(d.row, d.metric): d for d in compare(spec, b, recs)}
    assert drifts[(0.5, "probe_linear_test_acc")].status == "REFUSED"
    assert not any(d.failed for d in drifts.values())
    # a baseline written before the rule: its value at chance is refused when compared
    old = {**b, "values": b["values"] + b["refused"]}
    del old["refused"]
    drifts = {(d.row, d.metric): d for d in compare(spec, old, recs)}
    assert drifts[(0.5, "probe_linear_test_acc")].status == "REFUSED" and len(drifts) == len(compare(spec, b, recs))
    # the committed example itself
    example = [{"model": "vae", "row": 0.5, "metric": "probe_linear_test_acc", "mean": 0.1445},
               {"model": "vae", "row": 0.5, "metric": "probe_linear_chance", "mean": 0.1328}]
    assert len(at_chance(example, {"probe_linear_test_acc": {"seed_tolerance": 0.0465},
                                   "probe_linear_chance": {"seed_tolerance": 0.0}})) == 1


# ---------------------------------------------------------------------------- per-spec ci presets
@pytest.mark.parametrize("name", CI_SPECS)
def test_ci_preset_has_a_baseline_that_matches_it(name):
    """Each ci preset: at least 2 seeds, and its committed baseline only names the preset's
    models and metric values (a renamed model or metric would otherwise show as MISSING
    only after the minutes of a full regress)."""
    spec = load_spec(name)
    preset = spec.preset("ci")
    cells = spec.cells("ci")
    assert len({c.seed for c in cells}) >= 2
    baseline = read_baseline(baselines_dir() / f"{name}.json")
    models = {c.model for c in cells} | {row.name for row in spec.external_rows("ci")}
    metrics = {m: preset.metrics_for(m) for m in models} | {row.name: preset.external_metrics
                                                            for row in spec.external_rows("ci")}
    for v in baseline["values"] + baseline.get("refused", []):
        assert v["model"] in models, v
        assert any(v["metric"] in EVALUATORS.get(m).outputs for m in metrics[v["model"]]), v


def test_ci_runs_the_regression_as_its_own_step_after_the_unit_suite():
    root = baselines_dir().parent.parent
    steps = [line for line in (root / ".ci" / "run").read_text().splitlines() if "pytest" in line and not line.startswith("#")]
    assert len(steps) == 2 and "-m regress" not in steps[0]
    assert "-m regress" in steps[1] and steps[1].endswith("tests/test_regress.py")
    assert '-m "not regress"' in (root / "setup.cfg").read_text()  # the unit suite leaves it out


# ---------------------------------------------------------------------------- goldens
def cheap_goldens(tmp_path):
    """Every golden but FID's (which needs the Inception: the regress step checks those)."""
    return {**goldens.frechet_values(), **goldens.sharpness_values(), **goldens.detection_values(tmp_path),
            **goldens.probe_values()}


def committed_goldens():
    return read_baseline(baselines_dir() / f"{goldens.GOLDENS}.json")


def test_metric_goldens_hold_to_1e_6(tmp_path):
    committed = committed_goldens()
    assert committed["tolerance_rule"] == goldens.TOLERANCE_RULE
    values = cheap_goldens(tmp_path)
    drifts = [d for d in compare_goldens(committed, values) if (d.model, d.row, d.metric) in values]
    assert len(drifts) == len(values) >= 12
    assert all(d.status == "ok" for d in drifts), [d for d in drifts if d.status != "ok"]
    assert {d.metric for d in compare_goldens(committed, {})} >= {"fid_direct", "fid_saved", "fid_clean"}


def test_a_golden_moved_by_2e_6_relative_drifts(tmp_path):
    values = cheap_goldens(tmp_path)
    key = ("detection", "predictions file, 12 images", "ap_spair")
    values[key] *= 1 + 2e-6
    bad = [d for d in compare_goldens(committed_goldens(), values)
           if (d.model, d.row, d.metric) in values and d.status != "ok"]
    assert [(d.model, d.row, d.metric) for d in bad] == [key]


def test_a_frechet_distance_without_its_mean_term_fails_its_golden(tmp_path, monkeypatch):
    from factorbench.metrics import frechet

    real = frechet.frechet_distance
    monkeypatch.setattr(frechet, "frechet_distance", lambda mu1, s1, mu2, s2, *a: real(mu1, s1, mu1, s2, *a))
    values = cheap_goldens(tmp_path)
    bad = [d for d in compare_goldens(committed_goldens(), values)
           if (d.model, d.row, d.metric) in values and d.status != "ok"]
    assert [d.metric for d in bad] == ["frechet_distance"]


def test_goldens_inputs_are_fixed():
    a, b = goldens.fixed_images(1, 5, 16), goldens.fixed_images(1, 5, 16)
    assert a.dtype == np.uint8 and a.shape == (5, 16, 16, 3) and np.array_equal(a, b)
    assert not np.array_equal(a, goldens.fixed_images(2, 5, 16))
    gt, pred, scores = goldens.fixed_detections()
    assert len(gt) == len(pred) == len(scores) == 12 and sum(map(len, gt)) > 0
    assert all((p[:, 2:] >= p[:, :2]).all() for p in pred)


# ---------------------------------------------------------------------------- the real regress (CI step 2)
@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("regress")


def regress(*args):
    return CliRunner().invoke(main, ["--quiet", "regress", "--device", "cpu", *args])


def drifted_metrics(output):
    """The metric column of the diff table's DRIFT lines (rows may contain spaces: the
    metric is the sixth column from the right)."""
    return sorted(line.split()[-6] for line in output.splitlines() if line.rstrip().endswith("DRIFT"))


@pytest.mark.regress
def test_regress_passes_against_committed_baselines(workdir):
    result = regress("--workdir", str(workdir))
    assert result.exit_code == 0, result.output
    assert "checked values within tolerance" in result.output
    assert "DRIFT" not in result.output and "MISSING" not in result.output
    assert any(line.startswith("metrics ") for line in result.output.splitlines())  # the goldens ran


@pytest.mark.regress
def test_regress_and_bench_run_share_checkpoints(workdir, monkeypatch):
    """`regress --workdir W` trains into W/checkpoints (not W/runs/checkpoints), the folders
    `bench run --workdir W` uses: bench run then trains nothing."""
    spec = load_spec("vae_beta_sweep")
    result = regress("--bench", "vae_beta_sweep", "--workdir", str(workdir))  # trains unless the full run did
    assert result.exit_code == 0, result.output
    assert not (workdir / "runs").exists()
    assert all((checkpoint_dir(workdir, c) / "model.pt").exists() for c in spec.cells("ci"))

    def no_training(*args, **kwargs):
        raise AssertionError("bench run retrained a cell that regress had trained")

    monkeypatch.setattr("factorbench.bench.cells.train", no_training)
    result = CliRunner().invoke(main, ["--quiet", "bench", "run", "vae_beta_sweep", "--preset", "ci", "--device", "cpu",
                                       "--workdir", str(workdir), "--results", str(workdir.parent / "bench-results")])
    assert result.exit_code == 0, result.output


@pytest.mark.regress
def test_regress_fails_on_a_value_moved_by_three_tolerances(workdir, tmp_path):
    for path in baselines_dir().glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    target = tmp_path / "vae_beta_sweep.json"
    baseline = json.loads(target.read_text())
    entry = next(v for v in baseline["values"] if v["metric"] == "recon_mse")
    entry["mean"] += 3 * tolerance(baseline, "recon_mse", entry["mean"])
    target.write_text(json.dumps(baseline))
    result = regress("--bench", "vae_beta_sweep", "--workdir", str(workdir), "--baselines", str(tmp_path))
    assert result.exit_code == 3  # drift, not a user error (1) or a crash
    drift_lines = [line for line in result.output.splitlines() if "DRIFT" in line]
    assert len(drift_lines) == 1 and "recon_mse" in drift_lines[0]
    assert result.output.splitlines()[0].split()[:4] == ["benchmark", "model", "row", "metric"]


@pytest.mark.regress
def test_regress_fails_for_an_encoder_returning_zeros(workdir, monkeypatch):
    """The trained ci VAEs, evaluated through an encoder that returns zeros: the
    reconstruction error (and the probe's train accuracy) leave their bands."""
    from factorbench.models.vae.model import VAE

    def zeros(self, x):
        z = torch.zeros(len(x), self.config.latent_dim, device=x.device)
        return z, z

    monkeypatch.setattr(VAE, "encode", zeros)
    result = regress("--bench", "vae_beta_sweep", "--workdir", str(workdir))
    assert result.exit_code == 3, result.output  # drift
    assert "recon_mse" in drifted_metrics(result.output)


@pytest.mark.regress
def test_regress_fails_for_fid_without_its_mean_term(monkeypatch):
    from factorbench.metrics import fid

    real = fid.frechet_distance
    monkeypatch.setattr(fid, "frechet_distance", lambda mu1, s1, mu2, s2, *a: real(mu1, s1, mu1, s2, *a))
    result = regress("--bench", goldens.GOLDENS)
    assert result.exit_code == 3, result.output  # drift
    assert drifted_metrics(result.output) == ["fid_clean", "fid_direct", "fid_saved"]
