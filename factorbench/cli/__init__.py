"""The ``factorbench`` command line: ``main`` is the console entry point
(``factorbench = factorbench.cli:main``) and ``python -m factorbench``. The root group is in
:mod:`.root`, one module per command group beside it, and what they share in
:mod:`.support` and :mod:`.group`."""

from .root import main

__all__ = ["main"]
