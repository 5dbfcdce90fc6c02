"""Run a benchmark preset: the grid's cells through an executor, then the external rows.

The grid's cells are jobs (:func:`~.cells.run_cell`: train what is missing, evaluate what
is missing, write records) run by an executor (in-process, a local process pool or a Ray
cluster; :mod:`factorbench.bench.executors`), chosen by the executor fields of
:class:`~.run_options.RunOptions`; the preset's external rows are evaluated after them
(:mod:`.external`).
"""

from __future__ import annotations

from typing import List

from ..errors import FactorbenchError
from .executors import GridReport, run_jobs
from .external import evaluate_external
from .run_options import RunOptions
from .spec import BenchmarkSpec, Cell

__all__ = ["RunOptions", "run_benchmark", "run_grid"]


def run_grid(spec: BenchmarkSpec, opts: RunOptions) -> GridReport:
    """Run the preset's cells with the executor of ``opts``; a failed cell is in the report
    (with its error), never raised, and does not stop the others."""
    return run_jobs(spec, spec.cells(opts.preset, opts.seeds), opts, executor=opts.executor, jobs=opts.jobs,
                    address=opts.address, cpus_per_job=opts.cpus_per_job, gpus_per_job=opts.gpus_per_job)


def run_benchmark(spec: BenchmarkSpec, opts: RunOptions) -> List[Cell]:
    """Run the preset's cells (see :func:`run_grid`); once all jobs have finished, raise a
    FactorbenchError naming the failed cells, if any; then evaluate the preset's external
    rows (:mod:`.external`). Returns the cells."""
    report = run_grid(spec, opts)
    if report.failed:
        raise FactorbenchError(report.failure_message())
    evaluate_external(spec, opts)
    return [r.cell for r in report.results]
