"""``factorbench report [SPECS]``: the static HTML report over stored results (factorbench.report)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("specs", nargs=-1)
@click.option("--preset", default="quick", show_default=True, type=click.Choice(["ci", "quick", "paper"]))
@click.option("--results", type=click.Path(file_okay=False), default=None, help="Records and figures (default: ./results).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Site folder (default: <results>/report/<preset>).")
def report_cmd(specs, preset, results, out):
    """Write an HTML report (tables, findings, protocol cards, plots, figures) from stored results.

    It trains nothing: it reads the records, the checkpoints' losses.csv and the figures the
    evaluators wrote. Open OUT/index.html in a browser; no server is needed.
    """
    from ..paths import default_results_dir
    from ..report.site import build_report

    res = Path(results) if results else default_results_dir()
    index = build_report(list(specs), preset, res, Path(out) if out else res / "report" / preset)
    click.echo(f"report: {index}")
