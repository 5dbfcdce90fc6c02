"""Provenance: factorbench's own version, package versions and the git commit, recorded with
every result.

``__version__`` lives here, in the base layer, so that the trainer and the records store
read it without importing the package root (the public API, the top layer); the root
re-exports it (``factorbench.__version__``) and setup.cfg reads it from here. The package
root imports this module, so it imports nothing heavy at the top (``import factorbench``
stays cheap: benchmarks/perf/cli_startup.py).
"""

from __future__ import annotations

from functools import lru_cache

__version__ = "0.1.0"

PACKAGES = ("factorbench", "torch", "torchvision", "numpy", "scikit-learn", "pandas", "torch-fidelity")


@lru_cache(maxsize=None)
def package_versions() -> dict[str, str]:
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@lru_cache(maxsize=None)
def git_commit() -> str | None:
    """The commit of the factorbench source tree (with ``-dirty`` if modified), if in git."""
    import subprocess
    from pathlib import Path

    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("-dirty" if dirty else "") if sha else None
