"""The click group of every ``factorbench`` command group: a user error is one line and
exit status 1, a bug keeps its traceback and exits 70 (:mod:`factorbench.cli.support`)."""

from __future__ import annotations

import sys

import click

from ..errors import FactorbenchError
from .support import EXIT_CRASH, EXIT_USER, decorate


class Group(click.Group):
    """A click group that turns user errors into one line instead of a traceback, and gives
    every subcommand ``--quiet`` and its help example (:mod:`.support`)."""

    def add_command(self, cmd, name=None) -> None:
        super().add_command(cmd, name)
        parent = getattr(self, "_path", None)
        if parent is not None:  # else decorate() reaches cmd when this group is added to its parent
            decorate(cmd, " ".join(p for p in (parent, name or cmd.name) if p))

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:  # a bad option is a user error too
            exc.exit_code = EXIT_USER
            raise

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USER
            raise
        except FactorbenchError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # unwritable --out, full disk, ...: the OS's own one-line reason
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception:  # a bug: keep the traceback, and an exit status that is not a user error's
            if ctx.parent is not None:
                raise
            import traceback

            traceback.print_exc()
            click.echo(f"factorbench crashed (a bug, not a mistake in the command); exit status {EXIT_CRASH}",
                       err=True)
            sys.exit(EXIT_CRASH)
