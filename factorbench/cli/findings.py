"""``factorbench findings [SPECS]``: the thesis's findings checked against stored records
(factorbench.bench.findings), and the findings block printed under a table."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import FactorbenchError


@click.command("findings")
@click.argument("specs", nargs=-1)
@click.option("--preset", default="quick", show_default=True, type=click.Choice(["ci", "quick", "paper"]))
@click.option("--results", type=click.Path(file_okay=False), default=None, help="Records (default: ./results).")
@click.option("--file", "path", type=click.Path(dir_okay=False), default=None,
              help="Findings file (default: results/thesis/findings.toml).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as a JSON list.")
def findings_cmd(specs, preset, results, path, as_json):
    """Check the thesis's findings against stored records: claim, thesis, ours, verdict.

    SPECS limits the findings to those benchmarks (default: every finding). Verdicts come
    from records only (see factorbench/bench/findings.py): holds, holds but not significant,
    fails but not significant, contradicted, or not measured (missing records, one seed).
    """
    import json

    from ..bench.findings import check_findings, load_findings, render_markdown, select
    from ..bench.spec import load_spec
    from ..paths import default_results_dir

    for name in specs:
        load_spec(name)  # an unknown benchmark is one line
    chosen = select(load_findings(Path(path) if path else None), list(specs))
    if not chosen:
        raise FactorbenchError("no findings for " + ", ".join(specs))
    out = check_findings(chosen, preset, Path(results) if results else default_results_dir())
    if as_json:
        click.echo(json.dumps([r.to_json() for r in out], indent=2, ensure_ascii=False))
    else:
        click.echo(render_markdown(out))


def echo_findings(spec_name: str, preset: str, results: Path) -> None:
    """Print a table's findings under it (nothing when the findings file has none)."""
    from ..bench.findings import findings_block

    try:
        block = findings_block(spec_name, preset, results)
    except FactorbenchError as exc:  # the table is written; a findings problem must not fail the run
        click.echo(f"warning: findings not checked: {exc}", err=True)
        return
    if block:
        click.echo(block)
