"""The ``factorbench`` command line (docs/protocols.md §1): the root group and ``main``.

One small module per command group beside this one (``datasets``, ``train``, ``bench``,
``table``, ``findings``, ``report``, ``run``, ``regress``): parse, call the library, print.
What they share (exit statuses, ``--quiet``, help examples, ``--json``, progress) is in
:mod:`.support` and the error handling in :class:`.group.Group`, below them all. A
:class:`~factorbench.errors.FactorbenchError` becomes one line on stderr and exit status 1."""

from __future__ import annotations

import os
from typing import Optional

import click

from .bench import bench
from .datasets import datasets
from .findings import findings_cmd
from .group import Group
from .regress import regress_cmd
from .report import report_cmd
from .run import run
from .support import decorate
from .table import table_cmd
from .train import train_cmd


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Folder holding the real datasets (default: $FACTORBENCH_DATA, else ./data).")
@click.version_option(package_name="factorbench")
@click.pass_context
def main(ctx: click.Context, quiet: bool, data_root: Optional[str]) -> None:
    """factorbench: train, evaluate and tabulate generative models with factorised
    representations, reproducing the tables of the thesis.

    Start with `factorbench bench run vae_beta_sweep --preset quick`, then look at
    results/tables/. Exit status: 1 a user error, 3 regression drift, anything else a crash.
    """
    ctx.ensure_object(dict)["quiet"] = quiet
    if data_root:
        os.environ["FACTORBENCH_DATA"] = data_root


decorate(main, "")

for _command in (datasets, train_cmd, bench, table_cmd, findings_cmd, report_cmd, run, regress_cmd):
    main.add_command(_command)


if __name__ == "__main__":
    main()
