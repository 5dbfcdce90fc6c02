"""What every command of the CLI shares (issue 17): exit statuses, ``--quiet`` after the
subcommand, an example in each ``--help``, ``--json`` output, and progress lines in logs.

- Exit status: 0 success; :data:`EXIT_USER` (1) a user error (a
  :class:`~factorbench.errors.FactorbenchError`, a bad option, an OS error on a path);
  :data:`EXIT_DRIFT` (3) ``regress`` found values outside their tolerance; anything else is
  a crash (:data:`EXIT_CRASH`, with its traceback), so CI can tell drift from breakage.
- ``--json`` prints one shape everywhere: a JSON list of records (objects), on stdout alone.
- Progress: with a terminal on stderr, bars (tqdm); without one (a CI log), one line per
  finished epoch / benchmark cell, from the ``factorbench.progress`` logger; ``--quiet``: none.

Every command module of :mod:`factorbench.cli` imports from here, and this module imports
none of them.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, Iterable

import click

EXIT_USER = 1
EXIT_DRIFT = 3
EXIT_CRASH = 70  # sysexits' EX_SOFTWARE: an internal error

PROGRESS_LOGGER = "factorbench.progress"

#: "command path" -> an example shown at the end of its --help
EXAMPLES = {
    "": "factorbench bench run vae_beta_sweep --preset quick",
    "datasets": "factorbench datasets list",
    "datasets list": "factorbench datasets list",
    "datasets show": "factorbench datasets show multi-dsprites --out grid.png -n 16",
    "datasets prepare": "factorbench datasets prepare shapes-fb --n-train 2000",
    "train": "factorbench train vae --dataset shapes-fb --preset quick --set beta=4 --out runs/vae-b4",
    "bench": "factorbench bench run vae_beta_sweep --preset ci --json",
    "bench list": "factorbench bench list",
    "bench run": "factorbench bench run vae_beta_sweep --preset quick --jobs 2",
    "table": "factorbench table vae_beta_sweep --preset quick --format latex",
    "regress": "factorbench regress --bench vae_beta_sweep --json",
    "findings": "factorbench findings lsr_gan_beta lsr_gan_lambda --preset quick --json",
    "report": "factorbench report vae_beta_sweep --preset quick --out report/",
    "run": "factorbench run fid samples/ shapes-fb:test --n 1000 --kid --prc",
    "run fid": "factorbench run fid samples/ shapes-fb:test --n 1000 --mode both --kid --prc --json",
    "run kid": "factorbench run kid runs/train/vae-shapes-fb-seed0 shapes-fb:test --n 1000 --seed 1",
    "run sharpness": "factorbench run sharpness samples/",
    "run detection": "factorbench run detection runs/train/said-multi-dsprites-seed0 --n 500 --json",
    "run mse": "factorbench run mse runs/train/vae-shapes-fb-seed0 --json",
    "run recon-acc": "factorbench run recon-acc runs/train/vae-digits-rgb-seed0 --label digit",
}


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(dict)["quiet"] = True


def quiet_option() -> click.Option:
    """``--quiet`` for a subcommand: the same flag as the root's, accepted after the command."""
    return click.Option(["--quiet"], is_flag=True, expose_value=False, callback=_set_quiet, is_eager=True,
                        help="No progress bars or progress lines.")


def decorate(cmd: click.Command, path: str) -> None:
    """Give ``cmd`` (and, for a group, its subcommands) ``--quiet`` and its help example.

    ``path`` is the command path under the root ("" for the root, "bench run"); it is kept
    on ``cmd`` so that :class:`~factorbench.cli.group.Group` can name commands added later."""
    cmd._path = path
    if path in EXAMPLES and not cmd.epilog:
        cmd.epilog = "\b\nExample:\n  " + EXAMPLES[path]
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            decorate(sub, f"{path} {name}".strip())
    elif not any(p.name == "quiet" for p in cmd.params):
        cmd.params.append(quiet_option())


def print_records(records: Iterable[Any]) -> None:
    """``--json``: a list of records on stdout (the one shape of every command's JSON)."""
    click.echo(json.dumps(list(records), indent=2, default=str))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (click's test runner swaps it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def enable_progress_lines(ctx: click.Context) -> None:
    """Without a terminal on stderr (and without --quiet), log one line per finished epoch
    or cell to stderr; with a terminal the bars show progress instead."""
    logger = logging.getLogger(PROGRESS_LOGGER)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.propagate = False
    quiet = (ctx.obj or {}).get("quiet")
    logger.setLevel(logging.WARNING if quiet or sys.stderr.isatty() else logging.INFO)


def progress_enabled(ctx: click.Context) -> bool:
    """Bars when stderr is a terminal; otherwise progress lines (:func:`enable_progress_lines`)."""
    enable_progress_lines(ctx)
    return not ctx.obj.get("quiet") and sys.stderr.isatty()


def device_option(f):
    return click.option("--device", default=None, metavar="cpu|cuda",
                        help="Where to run (default: cuda if available, else cpu).")(f)
