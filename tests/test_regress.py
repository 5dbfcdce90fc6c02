"""Golden-value regression of the ci preset (SPEC §5): the committed baselines must hold,
and a value moved by three tolerances must fail with a readable diff."""

import json
import shutil

import pytest
from click.testing import CliRunner

from factorbench.bench.regress import make_baseline, tolerance
from factorbench.bench.spec import load_spec
from factorbench.cli import main
from factorbench.paths import baselines_dir


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("regress")


def test_regress_passes_against_committed_baselines(workdir):
    result = CliRunner().invoke(main, ["--quiet", "regress", "--workdir", str(workdir), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "all" in result.output and "within tolerance" in result.output
    assert "DRIFT" not in result.output


def test_regress_fails_on_a_value_moved_by_three_tolerances(workdir, tmp_path):
    for path in baselines_dir().glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    target = tmp_path / "vae_beta_sweep.json"
    baseline = json.loads(target.read_text())
    entry = next(v for v in baseline["values"] if v["metric"] == "recon_mse")
    entry["mean"] += 3 * tolerance(baseline, "recon_mse", entry["mean"])
    target.write_text(json.dumps(baseline))
    result = CliRunner().invoke(main, ["--quiet", "regress", "--workdir", str(workdir), "--baselines", str(tmp_path),
                                       "--device", "cpu"])
    assert result.exit_code == 3  # drift, not a user error (1) or a crash
    drift_lines = [l for l in result.output.splitlines() if "DRIFT" in l]
    assert len(drift_lines) == 1 and "recon_mse" in drift_lines[0]
    assert result.output.splitlines()[0].split()[:4] == ["benchmark", "model", "row", "metric"]


def test_baseline_tolerance_follows_the_seed_spread():
    spec = load_spec("vae_beta_sweep")
    recs = [{"model": "vae", "grid": {"beta": 1.0}, "metric": "m", "seed": s, "value": v}
            for s, v in enumerate([1.0, 2.0, 3.0])]
    recs += [{"model": "vae", "grid": {"beta": 2.0}, "metric": "m", "seed": s, "value": v}
             for s, v in enumerate([5.0, 5.0, 8.0])]  # variance 3
    b = make_baseline(spec, recs)
    sigma = ((1.0 + 3.0) / 2) ** 0.5  # pooled over the two cells
    assert b["metrics"]["m"]["pooled_seed_std"] == pytest.approx(sigma)
    assert tolerance(b, "m", 2.0) == pytest.approx(3 * sigma * (2 / 3) ** 0.5)
