"""Executors (factorbench/bench/executors.py): the same grid gives the same table in-process,
in a process pool and on Ray; a killed run completes only its missing cells; a failed cell
is reported and the others finish; stage-1 cells are trained once, before their users.
No test pins torch's threads to make runs agree: the in-process reference runs with three
threads, a Ray or pool worker with one, and deterministic cells still agree byte for byte
(seeding.fixed_threads)."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from click.testing import CliRunner

from factorbench.bench import executors
from factorbench.bench.executors import is_complete, run_jobs, stage1_waves
from factorbench.bench.run_options import RunOptions
from factorbench.bench.spec import load_spec
from factorbench.bench.store import read_records
from factorbench.bench.tables import MISSING, build_table, render_csv, render_markdown
from factorbench.cli import main
from factorbench.errors import FactorbenchError
from factorbench.evaluators import EVALUATORS
from factorbench.seeding import DETERMINISTIC_THREADS

SPEC = "vae_beta_sweep"
SEEDS = 2


@pytest.fixture(scope="module")
def spec():
    return load_spec(SPEC)


def options(root, spec_name=SPEC, **executor):
    return RunOptions(load_spec(spec_name).preset("ci"), root / "runs", root / "results", SEEDS, "cpu", False, **executor)


def tables(spec, results):
    """(markdown without its caption line, csv) of the table built from the stored records."""
    table = build_table(spec, spec.preset("ci"), read_records(results, spec.name, "ci"), show_thesis=False)
    markdown = [line for line in render_markdown(table).splitlines() if line != table.caption]
    return "\n".join(markdown), render_csv(table)


def values(spec, results):
    return {(r["cell"], r["metric"], r["target"]): r["value"] for r in read_records(results, spec.name, "ci")}


@pytest.fixture(scope="module")
def local_run(spec, tmp_path_factory):
    """The reference: every cell in this process, one after the other, with the process on
    three torch threads (a Ray worker runs one): the cells fix their own count."""
    root = tmp_path_factory.mktemp("local")
    old = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        report = run_jobs(spec, spec.cells("ci", SEEDS), options(root))
    finally:
        torch.set_num_threads(old)
    return root, report


def test_local_in_process_runs_every_cell(spec, local_run):
    root, report = local_run
    assert report.counts == {"done": 2 * SEEDS, "skipped": 0, "failed": 0}
    assert len(values(spec, root / "results")) == 2 * SEEDS * 4  # recon_mse + 3 probe values
    assert {r["protocol"]["torch_threads"] for r in read_records(root / "results", spec.name, "ci")} == {
        DETERMINISTIC_THREADS}


def test_ray_table_equals_local_table(spec, local_run, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        report = run_jobs(spec, spec.cells("ci", SEEDS), options(tmp_path), executor="ray")
    finally:
        ray.shutdown()
    assert report.counts == {"done": 2 * SEEDS, "skipped": 0, "failed": 0}, report.failure_message()
    assert tables(spec, tmp_path / "results") == tables(spec, local_run[0] / "results")
    assert values(spec, tmp_path / "results") == values(spec, local_run[0] / "results")


def test_process_pool_table_equals_local_table(spec, local_run, tmp_path):
    report = run_jobs(spec, spec.cells("ci", SEEDS), options(tmp_path), jobs=2)
    assert report.counts == {"done": 2 * SEEDS, "skipped": 0, "failed": 0}, report.failure_message()
    assert tables(spec, tmp_path / "results") == tables(spec, local_run[0] / "results")
    assert values(spec, tmp_path / "results") == values(spec, local_run[0] / "results")


def test_killed_run_reruns_only_its_missing_cells(spec, local_run, tmp_path, monkeypatch):
    """A real SIGKILL of `factorbench bench run` once its first cell is recorded, then a re-run."""
    cells = spec.cells("ci", SEEDS)
    opts = options(tmp_path)
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "factorbench", "--quiet", "bench", "run", SPEC, "--preset", "ci",
                             "--seeds", str(SEEDS), "--jobs", "1", "--device", "cpu", "--workdir", str(opts.workdir),
                             "--results", str(opts.results)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not is_complete(spec, cells[0], opts):
        assert proc.poll() is None and time.time() < deadline, "the run ended before its first cell was recorded"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    finished = {c.id for c in cells if is_complete(spec, c, opts)}
    assert cells[0].id in finished and len(finished) < len(cells)  # really killed part-way

    dispatched = []
    real = executors.execute_job

    def spy(job, splits=None):
        dispatched.append(job.cell.id)
        return real(job, splits)

    monkeypatch.setattr(executors, "execute_job", spy)
    report = run_jobs(spec, cells, opts)
    assert sorted(dispatched) == sorted(c.id for c in cells if c.id not in finished)
    assert {r.cell.id for r in report.skipped} == finished
    assert {r.cell.id for r in report.done} == {c.id for c in cells} - finished
    assert not report.failed
    assert tables(spec, opts.results) == tables(spec, local_run[0] / "results")
    assert values(spec, opts.results) == values(spec, local_run[0] / "results")


def test_a_failed_cell_is_reported_and_the_others_finish(spec, local_run, tmp_path, monkeypatch):
    """The probe fails for β = 4: `bench run` still records the rest, writes the table with
    "—" for the missing values, names the failed cells and exits 1; a re-run retries only them."""
    probe = EVALUATORS.get("probe_linear")

    def failing_probe(ctx, **params):
        if ctx.model.config.beta == 4.0:
            raise RuntimeError("injected probe failure")
        return probe(ctx, **params)

    failing_probe.outputs, failing_probe.targets = probe.outputs, probe.targets
    monkeypatch.setitem(EVALUATORS._items, "probe_linear", failing_probe)
    # the checkpoints of the reference run are reused: only the evaluations run
    args = ["--quiet", "bench", "run", SPEC, "--preset", "ci", "--seeds", str(SEEDS), "--device", "cpu",
            "--workdir", str(local_run[0] / "runs"), "--results", str(tmp_path / "results")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    failed = [line for line in result.output.splitlines() if line.startswith("failed: ")]
    assert len(failed) == SEEDS and all("beta=4.0" in line and "RuntimeError: injected probe failure" in line
                                        for line in failed)
    assert f"{2 * SEEDS} cells: {SEEDS} done, 0 skipped, {SEEDS} failed" in result.output
    row = next(line for line in result.output.splitlines() if line.startswith("| 4.0 |"))
    assert row.count(MISSING) == 3 and MISSING not in row.split("|")[2]  # recon_mse is there, the probe is not
    assert (tmp_path / "results" / "tables" / f"{SPEC}-ci.csv").exists()

    monkeypatch.undo()
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"{2 * SEEDS} cells: {SEEDS} done, {SEEDS} skipped, 0 failed" in result.output
    assert tables(spec, tmp_path / "results") == tables(spec, local_run[0] / "results")


def test_stage1_cells_train_once_before_their_users_and_a_failure_blocks_them(tmp_path, monkeypatch):
    """lsr_gan_beta: each VAE is a row and the stage 1 of an LSR-GAN. No training here: the
    jobs are recorded by a stand-in that fails the stage-1 training of β = 4."""
    lsr = load_spec("lsr_gan_beta")
    cells = lsr.cells("ci", 1)
    vaes = [c for c in cells if c.model == "vae"]
    assert [sorted(c.id for c in wave) for wave in stage1_waves(cells, options(tmp_path, "lsr_gan_beta"))] == [
        sorted(c.id for c in vaes)]
    calls = []

    def fake(job, splits=None):
        calls.append((job.cell.model, job.cell.grid["beta"], job.train_only))
        if job.train_only and job.cell.grid["beta"] == 4.0:
            return "RuntimeError: boom", None
        return None

    monkeypatch.setattr(executors, "execute_job", fake)
    report = run_jobs(lsr, cells + cells, options(tmp_path, "lsr_gan_beta"))  # repeated cells run once
    assert sorted(calls[:2]) == [("vae", 0.5, True), ("vae", 4.0, True)]
    assert sorted(calls[2:]) == [("lsr_gan", 0.5, False), ("vae", 0.5, False)]
    status = {(r.cell.model, r.cell.grid["beta"]): (r.status, r.error) for r in report.results}
    assert len(report.results) == 4
    assert status[("vae", 4.0)] == ("failed", "RuntimeError: boom")
    assert status[("lsr_gan", 4.0)][0] == "failed" and "stage-1 cell vae" in status[("lsr_gan", 4.0)][1]
    assert status[("vae", 0.5)][0] == status[("lsr_gan", 0.5)][0] == "done"


def test_executor_options_are_checked(spec, tmp_path, monkeypatch):
    cells = spec.cells("ci", 1)
    with pytest.raises(FactorbenchError, match="--address is for --executor ray"):
        run_jobs(spec, cells, options(tmp_path), address="ray://head:10001")
    with pytest.raises(FactorbenchError, match="unknown executor"):
        run_jobs(spec, cells, options(tmp_path), executor="slurm")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(FactorbenchError, match=r"pip install 'factorbench\[ray\]'"):
        run_jobs(spec, cells, options(tmp_path), executor="ray")


def test_options_carry_the_resolved_preset_of_the_spec_they_run(spec, tmp_path):
    """Issue 16: the resolved PresetSpec travels, not its name; options built from one
    spec's preset cannot run another spec's cells with the wrong settings."""
    with pytest.raises(TypeError, match=r"spec.preset\('ci'\)"):
        RunOptions("ci", tmp_path / "runs", tmp_path / "results")
    lsr = load_spec("lsr_gan_beta")
    with pytest.raises(FactorbenchError, match="another benchmark, not of lsr_gan_beta"):
        run_jobs(lsr, lsr.cells("ci", 1), options(tmp_path))
    assert spec.preset("ci").name == "ci" and lsr.preset("quick").name == "quick"


def test_derived_runs_are_jobs_of_their_own_after_their_source_and_a_failure_fails_the_cell(tmp_path, monkeypatch):
    """vae_transfer: the fine-tuning runs (VAE-Tune, VAE-New on shapes-fb; §4.4.2) and
    semantic_latent's fine-tuned VAE are derived runs. Each is a job, scheduled after its
    source cell is trained and before any evaluation; a stand-in records the jobs and fails
    seed 1's VAE-New."""
    spec = load_spec("vae_transfer")
    cells = spec.cells("ci", 2)
    calls = []

    def fake(job, splits=None):
        run = job.derived
        calls.append((job.cell.seed, "derived" if run else ("train" if job.train_only else "evaluate"),
                      None if run is None else (run.variant, run.target)))
        if run is not None and job.cell.seed == 1 and run.variant == "vae-new":
            return "RuntimeError: diverged", None
        return None

    monkeypatch.setattr(executors, "execute_job", fake)
    report = run_jobs(spec, cells, options(tmp_path, "vae_transfer"))
    kinds = [kind for _, kind, _ in calls]
    assert kinds == ["train"] * 2 + ["derived"] * 6 + ["evaluate"]
    assert sorted(run for seed, kind, run in calls if kind == "derived" and seed == 0) == [
        ("vae-new", "shapes-fb"), ("vae-tune", "shapes-fb"), ("vae-tune", "shapes-fb")]  # finetune's two, semantic's one
    status = {r.cell.seed: (r.status, r.error) for r in report.results}
    assert status[0] == ("done", None)
    assert status[1] == ("failed", "its derived run vae-new on shapes-fb failed: RuntimeError: diverged")
