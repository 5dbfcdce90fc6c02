"""Where things live.

- Data shipped with the repository (benchmark specs, thesis numbers, CI baselines) is read
  from the project root: the folder above the ``factorbench`` package (an editable
  install, as the README uses) or, failing that, the current folder.
- What a user's runs produce goes under the current folder unless told otherwise:
  ``runs/`` (checkpoints; ``--workdir`` or ``FACTORBENCH_WORKDIR``) and ``results/``
  (records and tables; ``--results`` or ``FACTORBENCH_RESULTS``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path


def project_root() -> Path:
    here = Path(__file__).resolve().parent.parent
    return here if (here / "benchmarks").is_dir() else Path.cwd()


def benchmarks_dir() -> Path:
    return project_root() / "benchmarks"


def thesis_file() -> Path:
    return project_root() / "results" / "thesis" / "thesis_numbers.csv"


def baselines_dir() -> Path:
    return project_root() / "results" / "baselines"


def default_workdir() -> Path:
    return Path(os.environ.get("FACTORBENCH_WORKDIR", "runs"))


def default_results_dir() -> Path:
    return Path(os.environ.get("FACTORBENCH_RESULTS", "results"))


#: what a name that becomes one path component may look like: letters, digits and ``._+-``,
#: starting with a letter or digit (so no "..", no leading dot, no separator, not absolute)
_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def safe_component(value: object, what: str) -> str:
    """``value`` if it can be one file or folder name under an output folder, else a one-line
    error naming ``what``. Spec names, model/variant names, metric names and targets become
    parts of record, table, figure and checkpoint paths; ``name = "../../x"`` must not write
    outside ``--results``."""
    from .errors import FactorbenchError

    if not isinstance(value, str) or not _COMPONENT.fullmatch(value) or ".." in value:
        raise FactorbenchError(f"{what} must be a plain name (letters, digits, '.', '_', '+', '-'; no '/', "
                               f"no '..', not absolute), got {value!r}")
    return value
