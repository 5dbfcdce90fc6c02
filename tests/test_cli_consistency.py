"""CLI consistency (issue 17): examples in --help, --quiet anywhere, exit statuses, --json as a
list of records, progress lines without a terminal, one-line config type errors."""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import factorbench as fb
from factorbench.cli import main
from factorbench.cli.support import EXIT_CRASH, EXIT_DRIFT, EXIT_USER
from test_cli import COMMANDS, run_cli


@pytest.mark.parametrize("cmd", COMMANDS + [["run", "detection"]], ids=lambda c: " ".join(c) or "factorbench")
def test_every_help_shows_an_example(cmd):
    result = CliRunner().invoke(main, cmd + ["--help"])
    assert result.exit_code == 0
    example = result.output.split("Example:", 1)[1].split()
    assert example[0] == "factorbench" and (not cmd or example[1] == cmd[0])


def test_quiet_is_accepted_after_the_subcommand():
    result = CliRunner().invoke(main, ["bench", "list", "--quiet"])
    assert result.exit_code == 0 and "vae_beta_sweep" in result.output


def test_exit_status_tells_user_errors_from_crashes(monkeypatch):
    assert CliRunner().invoke(main, ["run", "fid", "--no-such-option"]).exit_code == EXIT_USER
    assert CliRunner().invoke(main, ["bench", "run", "no-such-bench"]).exit_code == EXIT_USER

    def broken():
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("factorbench.bench.spec.spec_names", broken)
    result = CliRunner().invoke(main, ["bench", "list"])
    assert result.exit_code == EXIT_CRASH not in (0, EXIT_USER, EXIT_DRIFT)
    assert "ZeroDivisionError" in result.output and "crashed" in result.output


def test_regress_drift_exits_3_and_prints_json_records(monkeypatch, tmp_path):
    from factorbench.bench.regress import Drift

    drifted = [Drift("vae_beta_sweep", "vae", 4.0, "recon_mse", 10.0, 13.0, 1.0),
               Drift("vae_beta_sweep", "vae", 1.0, "recon_mse", 10.0, 10.5, 1.0)]
    monkeypatch.setattr("factorbench.bench.runner.run_benchmark", lambda spec, opts: [])
    monkeypatch.setattr("factorbench.bench.regress.compare", lambda spec, baseline, records: drifted)
    result = CliRunner().invoke(
        main, ["regress", "--bench", "vae_beta_sweep", "--workdir", str(tmp_path), "--device", "cpu", "--json"])
    assert result.exit_code == EXIT_DRIFT, result.output
    records = json.loads(result.stdout)
    assert isinstance(records, list) and [r["status"] for r in records] == ["DRIFT", "ok"]
    assert set(records[0]) == {"benchmark", "model", "row", "metric", "baseline", "now", "tol", "refused", "status"}


def test_run_sharpness_json_is_a_list_of_records(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    result = CliRunner().invoke(main, ["run", "sharpness", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.output)
    assert record["metric"] == "sharpness" and record["value"] == 0.0 and record["protocol"]["n_images"] == 3


def test_a_string_for_a_float_field_is_one_line_naming_field_and_type():
    result = run_cli("train", "vae", "--dataset", "digits-rgb", "--set", "beta=abc")
    assert result.returncode == EXIT_USER and "Traceback" not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "vae.beta" in lines[0] and "expected a number" in lines[0], result.stderr


def test_training_without_a_terminal_prints_a_line_per_epoch_and_loads_from_python(tmp_path):
    out = tmp_path / "ckpt"
    result = CliRunner().invoke(main, [
        "train", "vae", "--dataset", "digits-rgb", "--n-train", "64", "--epochs", "2", "--batch-size", "32",
        "--set", "latent_dim=4", "--set", "base_channels=4", "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    epochs = [l for l in result.stderr.splitlines() if "epoch" in l]
    assert len(epochs) == 2 and "epoch 1/2 done" in epochs[0] and "epoch 2/2 done" in epochs[1]
    quiet = CliRunner().invoke(main, [
        "train", "vae", "--dataset", "digits-rgb", "--resume", "--out", str(out), "--n-train", "64", "--epochs", "2",
        "--batch-size", "32", "--set", "latent_dim=4", "--set", "base_channels=4", "--device", "cpu", "--quiet"])
    assert quiet.exit_code == 0 and "epoch" not in quiet.stderr

    model = fb.load(out, device="cpu")
    assert tuple(model.sample(2).shape) == (2, 3, 32, 32)
    scores = fb.evaluate(out, "recon_mse", n_test=16, device="cpu")
    assert list(scores) == ["recon_mse"] and math.isfinite(scores.recon_mse.value)
    assert scores.recon_mse.protocol  # the protocol a benchmark record would store


@pytest.fixture
def stored_records(monkeypatch, tmp_path):
    """bench run / table over two stored records, without training (the runner is stubbed)."""
    records = [{"metric": "recon_mse", "value": 1.5, "cell": "a"}, {"metric": "probe_linear_test_acc", "value": 0.9,
                                                                   "cell": "a"}]
    table = tmp_path / "t.md"
    table.write_text("| table |\n")

    class Report:
        failed = []

        def summary(self):
            return "1 cells: 1 done, 0 skipped, 0 failed"

    monkeypatch.setattr("factorbench.bench.runner.run_grid", lambda spec, opts: Report())
    monkeypatch.setattr("factorbench.bench.output.write_tables", lambda *a, **k: {"md": table, "csv": table})
    monkeypatch.setattr("factorbench.bench.output.records_of_spec", lambda spec, preset, found: found)
    monkeypatch.setattr("factorbench.bench.store.read_records", lambda results, name, preset: records)
    return records


@pytest.mark.parametrize("cmd", [["bench", "run", "vae_beta_sweep", "--preset", "ci", "--device", "cpu"],
                                 ["table", "vae_beta_sweep", "--preset", "ci", "--format", "md"]],
                         ids=["bench run", "table"])
def test_bench_run_and_table_json_are_the_stored_records(stored_records, cmd, tmp_path):
    result = CliRunner().invoke(main, cmd + ["--results", str(tmp_path), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == stored_records  # stdout holds the JSON alone


def test_finished_cells_are_progress_lines_without_a_terminal():
    import logging

    from factorbench.bench.executors import Progress

    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("factorbench.progress")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        progress = Progress(3, "vae_beta_sweep [ci]", False, skipped=1)
        progress.finish(failed=False)
        progress.finish(failed=True)
        progress.close()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    assert lines == ["vae_beta_sweep [ci]: 1/3 jobs finished (failed=0 skipped=1)",
                     "vae_beta_sweep [ci]: 2/3 jobs finished (failed=1 skipped=1)"]


def test_fixed_stats_side_note_names_the_mode_that_used_it_under_another_protocol():
    """--mode both --allow-protocol-mismatch with a saved-mode file: only the direct column used
    it under another protocol, and the caption says so (it read the first column only)."""
    from factorbench.cli.run import _fixed_note

    stored = {"mode": "saved", "image_size": 32}
    results = [{"protocol": {"mode": "saved", "real": {"stats_protocol": stored}}},
               {"protocol": {"mode": "direct", "real": {"stats_protocol": stored,
                                                        "protocol_mismatch": ["mode 'saved' (requested 'direct')"]}}}]
    note = _fixed_note("real", "real.npz", results)
    assert "(computed in saved mode at 32), the same in every column" in note
    assert "in direct mode used under another protocol (--allow-protocol-mismatch): mode 'saved'" in note
    assert "in saved mode used under" not in note
