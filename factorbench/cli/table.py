"""``factorbench table SPEC``: a paper-style table rebuilt from stored records (factorbench.bench.output)."""

from __future__ import annotations

from pathlib import Path

import click

from .findings import echo_findings
from .support import print_records


@click.command("table")
@click.argument("spec")
@click.option("--preset", default="quick", show_default=True, type=click.Choice(["ci", "quick", "paper"]))
@click.option("--format", "fmt", default="md", show_default=True, type=click.Choice(["md", "latex", "csv"]))
@click.option("--results", type=click.Path(file_okay=False), default=None, help="Records and tables (default: ./results).")
@click.option("--thesis/--no-thesis", default=None, help="Show the thesis's numbers beside ours (default: paper preset only).")
@click.option("--json", "as_json", is_flag=True, help="Print the table's records as a JSON list instead.")
def table_cmd(spec, preset, fmt, results, thesis, as_json):
    """Rebuild SPEC's paper-style table from stored records and print it."""
    from ..bench.output import records_of_spec, write_tables
    from ..bench.spec import load_spec
    from ..bench.store import read_records
    from ..paths import default_results_dir

    s = load_spec(spec)
    show = (preset == "paper") if thesis is None else thesis
    folder = Path(results) if results else default_results_dir()
    p = s.preset(preset)
    paths = write_tables(s, p, folder, formats=[fmt], show_thesis=show)
    if as_json:
        print_records(records_of_spec(s, p, read_records(folder, s.name, preset)))
        return
    click.echo(paths[fmt].read_text())
    if fmt == "md":
        echo_findings(s.name, preset, folder)
