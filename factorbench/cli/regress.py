"""``factorbench regress``: the metric goldens and the ci presets against the stored baselines
(factorbench.bench.regress); exit status 3 on drift."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from .support import EXIT_DRIFT, device_option, print_records, progress_enabled


@click.command("regress")
@click.option("--update", is_flag=True, help="Rewrite the baselines from this run instead of comparing.")
@click.option("--bench", "names", multiple=True,
              help="Only these benchmarks; 'metrics': the metric goldens (default: the goldens and every ci preset).")
@click.option("--baselines", type=click.Path(file_okay=False), default=None, help="Baseline folder (default: results/baselines).")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Checkpoints, as bench run's --workdir (default: a fresh temporary folder). Finished runs found "
                   "there are reused; values are always re-evaluated.")
@device_option
@click.option("--json", "as_json", is_flag=True,
              help="Print one record per compared value (benchmark, model, row, metric, baseline, now, tol, refused, status).")
@click.pass_context
def regress_cmd(ctx, update, names, baselines, workdir, device, as_json):
    """Check the metric goldens and re-run the ci preset of each benchmark against the stored baselines.

    Exits 3 and prints a diff table when a value moved by more than its tolerance (see
    factorbench/bench/regress.py and goldens.py for the tolerances and the values refused
    because their band reaches chance); exit 1 is a user error, anything else a crash.
    """
    from ..bench.regress import diff_table, read_baseline, regress_names, run_regress
    from ..device import resolve_device
    from ..paths import baselines_dir

    base_dir = Path(baselines) if baselines else baselines_dir()
    drifts, written = run_regress(regress_names(names), base_dir, Path(workdir) if workdir else None,
                                  resolve_device(device), progress_enabled(ctx), update)
    for path in written:
        refused = read_baseline(path).get("refused", [])
        click.echo(f"updated {path}" + (f" ({len(refused)} values refused: at chance)" if refused else ""))
        for r in refused:
            click.echo(f"  refused: {r['model']} {r['row']} {r['metric']}: {r['reason']}")
    if update:
        return
    if as_json:
        print_records({**dataclasses.asdict(d), "status": d.status} for d in drifts)
    else:
        click.echo(diff_table(drifts))
    bad = [d for d in drifts if d.failed]
    refused = len([d for d in drifts if d.refused])
    note = f" ({refused} refused: at chance, not checked)" if refused else ""
    if bad:
        click.echo(f"regress: {len(bad)} of {len(drifts)} values drifted or are missing{note}", err=True)
        sys.exit(EXIT_DRIFT)
    click.echo(f"regress: all {len(drifts) - refused} checked values within tolerance{note}", err=as_json)
