"""``factorbench bench list|run``: the benchmark specs and the grid runner (factorbench.bench)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import FactorbenchError
from .findings import echo_findings
from .group import Group
from .support import device_option, print_records, progress_enabled


@click.group(cls=Group)
def bench() -> None:
    """Run benchmarks: one thesis table each (see benchmarks/)."""


@bench.command("list")
def bench_list() -> None:
    """Show the benchmark specs and their presets."""
    from ..bench.spec import load_spec, spec_names

    for name in spec_names():
        spec = load_spec(name)
        click.echo(f"{name:24} [{', '.join(spec.presets)}]  {spec.title}")


@bench.command("run")
@click.argument("spec")
@click.option("--preset", default="quick", show_default=True, type=click.Choice(["ci", "quick", "paper"]))
@click.option("--seeds", type=click.IntRange(min=1), default=None, help="Number of seeds (default: the preset's).")
@click.option("--workdir", type=click.Path(file_okay=False), default=None, help="Checkpoints (default: ./runs).")
@click.option("--results", type=click.Path(file_okay=False), default=None, help="Records and tables (default: ./results).")
@click.option("--thesis/--no-thesis", default=None, help="Show the thesis's numbers beside ours (default: paper preset only).")
@device_option
@click.option("--executor", default="local", show_default=True, type=click.Choice(["local", "ray"]),
              help="local: this machine (see --jobs); ray: one Ray task per cell (see --address).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Local executor: cells run at once (1: in this process; N: a pool of N processes).")
@click.option("--address", default=None, metavar="ADDR",
              help="Ray cluster to use, e.g. ray://head:10001 (default: start Ray on this machine).")
@click.option("--cpus-per-job", type=float, default=1, show_default=True,
              help="CPUs each cell asks Ray for (locally: torch threads per pool worker).")
@click.option("--gpus-per-job", type=float, default=0, show_default=True, help="GPUs each cell asks Ray for.")
@click.option("--report", "report_dir", is_flag=False, flag_value="", default=None, metavar="[DIR]",
              help="Also write the HTML report of this benchmark (default DIR: <results>/report/<preset>).")
@click.option("--json", "as_json", is_flag=True, help="Print the spec's records as a JSON list instead of the table.")
@click.pass_context
def bench_run(ctx, spec, preset, seeds, workdir, results, thesis, device, executor, jobs, address, cpus_per_job,
              gpus_per_job, report_dir, as_json):
    """Train what is missing, evaluate, append records, and write SPEC's table.

    Finished cells are skipped, so re-running the same command completes an interrupted
    grid. A failed cell does not stop the others; the tables are written from whatever
    records exist (missing values show as "—") and the command exits 1. With --executor
    ray, --workdir, --results and --data-root must be on storage every node shares.
    """
    from ..bench.output import write_tables
    from ..bench.run_options import RunOptions
    from ..bench.runner import run_grid
    from ..bench.spec import load_spec
    from ..device import resolve_device
    from ..paths import default_results_dir, default_workdir

    s = load_spec(spec)
    # on Ray, each worker picks cuda when its node gave it a GPU (the driver may have none)
    dev = "auto" if executor == "ray" and device is None else resolve_device(device)
    opts = RunOptions(s.preset(preset), Path(workdir) if workdir else default_workdir(),
                      Path(results) if results else default_results_dir(), seeds, dev,
                      progress_enabled(ctx), executor=executor, jobs=jobs, address=address,
                      cpus_per_job=cpus_per_job, gpus_per_job=gpus_per_job)
    report = run_grid(s, opts)
    show = (preset == "paper") if thesis is None else thesis
    try:
        paths = write_tables(s, opts.preset, opts.results, show_thesis=show)
    except FactorbenchError:
        if not report.failed:
            raise
        paths = None  # no record at all: every cell failed
    if as_json:
        from ..bench.output import records_of_spec
        from ..bench.store import read_records

        print_records(records_of_spec(s, opts.preset, read_records(opts.results, s.name, preset)))
    if paths:
        if not as_json:
            click.echo(paths["md"].read_text())
        click.echo("tables: " + ", ".join(str(p) for p in paths.values()), err=as_json)
        if not as_json:
            echo_findings(s.name, preset, opts.results)
        if report_dir is not None:
            from ..report.site import build_report

            out = Path(report_dir) if report_dir else opts.results / "report" / preset
            click.echo(f"report: {build_report([s.name], preset, opts.results, out)}", err=as_json)
    for r in report.failed:
        click.echo(f"failed: {r.label}: {r.error}", err=True)
        if r.traceback and not ctx.obj.get("quiet"):
            click.echo(r.traceback.rstrip(), err=True)
    click.echo(report.summary(), err=True)
    if report.failed:
        raise FactorbenchError(report.failure_message())
