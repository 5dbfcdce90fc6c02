"""Run a benchmark's grid of jobs: in-process, in a local process pool, or on a Ray cluster.

A *job* is one cell of the grid: train (or resume) its model, evaluate the metrics whose
records are missing, write one record file per value (:func:`~.cells.run_cell`). Jobs are
idempotent, so the grid is resumable:

- a cell whose records all exist is *skipped* before dispatch: a re-run dispatches only the
  missing cells, and a cell killed half-way resumes from its last checkpoint;
- a job that raises is *failed*, with its error text, and the other jobs go on; tables built
  afterwards show its values as missing ("—"), never as zeros.

Executors (:func:`run_jobs`): ``local`` runs the jobs one after the other in this process
(``jobs=1``, the default) or in a pool of ``jobs`` spawned processes; ``ray`` sends one Ray
task per job, each asking for ``cpus_per_job`` CPUs and ``gpus_per_job`` GPUs, to the
cluster at ``address`` (``None``/"local": a Ray instance started on this machine; an
already initialised Ray session is used as it is).

Waves. A two-stage cell (``cell.init_from``) starts from the checkpoint of its stage-1 cell,
which is often a cell of the grid too (in ``lsr_gan_beta`` each VAE is a row and the stage 1
of an LSR-GAN). Two workers must never train the same checkpoint folder at once, so the
stage-1 cells are trained first, each once (deduplicated by id), deepest first, and only
then are all cells run; a cell whose stage 1 failed fails with that error without being
dispatched. Cells with equal ids are run once.

Derived runs (fine-tuning a cell's model on a target, or its architecture from scratch:
VAE-Tune and VAE-New of §4.4.2) are jobs of their own, like stage-1 cells: once the
stage-1 waves are done, the cells that need derived runs are trained (training only), then
every missing derived run is one job of a wave, so a pool or Ray trains them in parallel,
and only then are the cells evaluated. A cell one of whose derived runs failed fails with
that error without its evaluation being dispatched.

Storage. Checkpoints, datasets and records travel *by path*: a worker reads and writes the
folders named in :class:`~.run_options.RunOptions` (``workdir`` for checkpoints, ``results``
for records and figures) and ``$FACTORBENCH_DATA`` / ``$FACTORBENCH_CACHE`` for datasets,
made absolute and passed to every worker. On a multi-machine cluster these must be on
storage every node mounts at the same path (NFS, a cluster file system): checkpoints are
large (hundreds of MB at the paper presets) and must outlive the job, because they are
reused by later runs, resumed after a kill, and read by the stage-2 cells trained on other
nodes. Records are tiny files, one per value, written atomically
(:mod:`~.store`), so any number of workers write into the same results store without
corrupting it, and the driver needs no collection step. Only the small artefacts go through
Ray itself: the resolved spec, the cell and the options are the task's (pickled) arguments,
and a job returns ``None`` or its error text.

Threads: a worker runs torch on ``cpus_per_job`` threads, except that a deterministic cell
(the default) trains and evaluates on the fixed thread count of
:func:`~factorbench.seeding.fixed_threads` wherever it runs, so in-process, pool and Ray
runs give byte-identical tables on any machine.

Progress: the driver shows one bar over the jobs, with done / running / failed / skipped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from tqdm.auto import tqdm

from ..errors import FactorbenchError
from ..models.checkpoint import is_finished
from ..models.derived import DerivedRun
from .cells import cell_derived_runs, checkpoint_dir, has_records, run_cell, train_cell, train_derived_run
from .run_options import RunOptions
from .spec import BenchmarkSpec, Cell

EXECUTORS = ("local", "ray")
#: environment variables a worker needs to find the data, caches and weights the driver uses
ENV_PREFIX = "FACTORBENCH_"


# ---------------------------------------------------------------------------- report
@dataclass
class CellResult:
    """What happened to one cell: "done" (ran now), "skipped" (all records existed) or "failed"."""

    cell: Cell
    status: str
    error: Optional[str] = None
    #: the worker's traceback for an unexpected exception (None for a FactorbenchError)
    traceback: Optional[str] = None

    @property
    def label(self) -> str:
        grid = " ".join(f"{k}={v}" for k, v in self.cell.grid.items())
        return f"{self.cell.model}{' ' + grid if grid else ''} seed={self.cell.seed} [{self.cell.id}]"


@dataclass
class GridReport:
    """Per-cell outcome of :func:`run_jobs`, in the order of the (deduplicated) cells."""

    benchmark: str
    preset: str
    results: List[CellResult] = field(default_factory=list)

    def with_status(self, status: str) -> List[CellResult]:
        return [r for r in self.results if r.status == status]

    @property
    def done(self) -> List[CellResult]:
        return self.with_status("done")

    @property
    def skipped(self) -> List[CellResult]:
        return self.with_status("skipped")

    @property
    def failed(self) -> List[CellResult]:
        return self.with_status("failed")

    @property
    def counts(self) -> Dict[str, int]:
        return {s: len(self.with_status(s)) for s in ("done", "skipped", "failed")}

    def summary(self) -> str:
        c = self.counts
        return (f"{self.benchmark} [{self.preset}]: {len(self.results)} cells: {c['done']} done, "
                f"{c['skipped']} skipped, {c['failed']} failed")

    def failure_message(self) -> str:
        """One line naming the failed cells and their errors."""
        failed = self.failed
        shown = "; ".join(f"{r.label}: {r.error}" for r in failed[:3]) + ("; ..." if len(failed) > 3 else "")
        return (f"{len(failed)} of {len(self.results)} cells of {self.benchmark} [{self.preset}] failed: {shown} "
                f"(re-run the same command to retry them; finished cells are skipped)")


# ---------------------------------------------------------------------------- jobs
@dataclass
class Job:
    """One unit of work: run ``cell`` (train, evaluate, write records), or only train it, or
    train one of its derived runs (``derived``) from its finished checkpoint."""

    spec: BenchmarkSpec
    cell: Cell
    opts: RunOptions
    train_only: bool = False
    derived: Optional[DerivedRun] = None
    #: FACTORBENCH_* variables of the driver, set in the worker (None: run in this process)
    env: Optional[Dict[str, str]] = None
    #: torch threads in the worker (None: leave as is)
    threads: Optional[int] = None


#: dataset splits memoised across the jobs a worker process runs
_WORKER_SPLITS: Dict[tuple, tuple] = {}


def describe(exc: BaseException) -> Tuple[str, Optional[str]]:
    """(one-line error text, traceback or None): a FactorbenchError is a user error and needs
    no traceback; anything else is a bug or a crash and keeps it."""
    if isinstance(exc, FactorbenchError):
        return " ".join(str(exc).split()), None
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text, "".join(traceback.format_exception(exc))


def execute_job(job: Job, splits: Optional[Dict[tuple, tuple]] = None) -> Optional[Tuple[str, Optional[str]]]:
    """Run ``job`` where it lands (this process, a pool worker, a Ray worker). Returns None on
    success, else :func:`describe` of the exception; never raises an ``Exception``."""
    try:
        from ..device import resolve_device

        if job.env:
            os.environ.update(job.env)
        if job.threads:
            import torch

            torch.set_num_threads(job.threads)
        opts = dataclasses.replace(job.opts, device=resolve_device(job.opts.device))
        if job.derived is not None:
            train_derived_run(job.cell, job.derived, opts)
        elif job.train_only:
            train_cell(job.cell, opts)
        else:
            run_cell(job.spec, job.cell, opts, _WORKER_SPLITS if splits is None else splits)
        return None
    except Exception as exc:  # reported by the driver; the other jobs go on
        return describe(exc)


def worker_env() -> Dict[str, str]:
    """The driver's FACTORBENCH_* variables, paths made absolute; the data root is always set
    (its default, ./data, is relative to the driver's folder, not the worker's)."""
    from ..data.real.base import data_root

    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    env["FACTORBENCH_DATA"] = str(data_root())
    return {k: os.path.abspath(v) if v else v for k, v in env.items()}


# ---------------------------------------------------------------------------- progress
class Progress:
    """The driver's bar over jobs, with done / running / failed / skipped in its postfix."""

    def __init__(self, total: int, desc: str, enabled: bool, skipped: int):
        self.bar = tqdm(total=total, desc=desc, unit="job", disable=not enabled)
        self.desc, self.total = desc, total
        self.done = self.running = self.failed = 0
        self.skipped = skipped
        self.refresh()

    def refresh(self) -> None:
        self.bar.set_postfix_str(f"done={self.done} running={self.running} failed={self.failed} "
                                 f"skipped={self.skipped}")

    def set_running(self, n: int) -> None:
        self.running = n
        self.refresh()

    def finish(self, failed: bool) -> None:
        if failed:
            self.failed += 1
        else:
            self.done += 1
        self.bar.update(1)
        self.refresh()
        # without a terminal for the bar, the CLI shows these lines instead (factorbench.cli.support)
        logging.getLogger("factorbench.progress").info(
            "%s: %d/%d jobs finished (failed=%d skipped=%d)", self.desc, self.done + self.failed, self.total,
            self.failed, self.skipped)

    def close(self) -> None:
        self.bar.close()


# ---------------------------------------------------------------------------- backends
Outcome = Optional[Tuple[str, Optional[str]]]
OnRunning = Callable[[int], None]


class SerialBackend:
    """``--executor local --jobs 1``: the jobs run one after the other in this process."""

    def __init__(self) -> None:
        self.splits: Dict[tuple, tuple] = {}

    def run(self, jobs: List[Job], on_running: OnRunning) -> Iterator[Tuple[Job, Outcome]]:
        for job in jobs:
            on_running(1)
            outcome = execute_job(job, self.splits)
            on_running(0)
            yield job, outcome

    def close(self) -> None:
        self.splits.clear()


class PoolBackend:
    """``--executor local --jobs N``: a pool of N spawned processes (spawn: no forked torch state)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: Optional[ProcessPoolExecutor] = None

    def run(self, jobs: List[Job], on_running: OnRunning) -> Iterator[Tuple[Job, Outcome]]:
        if self.pool is None:
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"))
        futures = {self.pool.submit(execute_job, job): job for job in jobs}
        left = len(futures)
        on_running(min(left, self.workers))
        broken = False
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except BrokenProcessPool:
                broken = True
                outcome = ("a worker process died (killed, or out of memory?)", None)
            except Exception as exc:  # e.g. a job that cannot be pickled
                outcome = describe(exc)
            left -= 1
            on_running(min(left, self.workers))
            yield futures[future], outcome
        if broken:  # the next wave gets a fresh pool
            self.close()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def import_ray():
    try:
        import ray
    except ImportError:
        raise FactorbenchError("the Ray executor needs Ray: pip install 'factorbench[ray]'") from None
    return ray


class RayBackend:
    """``--executor ray``: one Ray task per job on the cluster at ``address``."""

    def __init__(self, address: Optional[str], cpus_per_job: float, gpus_per_job: float) -> None:
        ray = self.ray = import_ray()
        self.started = False
        if not ray.is_initialized():
            if address in (None, "", "local"):
                ray.init(address="local", include_dashboard=False)
            else:
                ray.init(address=address)
            self.started = True
        self.task = ray.remote(num_cpus=cpus_per_job, num_gpus=gpus_per_job)(execute_job)
        self.slots = self.cluster_slots(cpus_per_job, gpus_per_job)

    def cluster_slots(self, cpus: float, gpus: float) -> int:
        """How many jobs the cluster can run at once, as it is now (for the progress bar)."""
        resources = self.ray.cluster_resources()
        slots = [int(resources.get("CPU", 0) // cpus)] if cpus > 0 else []
        if gpus > 0:
            slots.append(int(resources.get("GPU", 0) // gpus))
        return min(slots) if slots else 1

    def run(self, jobs: List[Job], on_running: OnRunning) -> Iterator[Tuple[Job, Outcome]]:
        refs = {self.task.remote(job): job for job in jobs}
        pending = list(refs)
        on_running(min(len(pending), self.slots))
        while pending:
            ready, pending = self.ray.wait(pending, num_returns=1)
            for ref in ready:
                try:
                    outcome = self.ray.get(ref)
                except Exception as exc:  # the worker crashed or the node was lost
                    outcome = describe(exc)
                on_running(min(len(pending), self.slots))
                yield refs[ref], outcome

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def make_backend(executor: str, jobs: int, address: Optional[str], cpus_per_job: float, gpus_per_job: float):
    check_executor(executor, jobs, address, cpus_per_job, gpus_per_job)
    if executor == "ray":
        return RayBackend(address, cpus_per_job, gpus_per_job)
    return SerialBackend() if jobs == 1 else PoolBackend(jobs)


def check_executor(executor: str, jobs: int, address: Optional[str], cpus_per_job: float,
                   gpus_per_job: float) -> None:
    if executor not in EXECUTORS:
        raise FactorbenchError(f"unknown executor {executor!r}; executors: {', '.join(EXECUTORS)}")
    if jobs < 1:
        raise FactorbenchError("--jobs must be at least 1")
    if cpus_per_job <= 0 or gpus_per_job < 0:
        raise FactorbenchError("--cpus-per-job must be positive and --gpus-per-job non-negative")
    if executor == "local":
        if address is not None:
            raise FactorbenchError("--address is for --executor ray")
        if gpus_per_job > 0:
            raise FactorbenchError("--gpus-per-job is for --executor ray; locally, use --device cuda")
    elif jobs != 1:
        raise FactorbenchError("--jobs is for --executor local; on Ray, --cpus-per-job and --gpus-per-job "
                               "and the cluster's resources decide how many jobs run at once")


# ---------------------------------------------------------------------------- scheduling
def unique_cells(cells: List[Cell]) -> List[Cell]:
    """``cells`` without repeats of an id (the first one stays)."""
    by_id: Dict[str, Cell] = {}
    for cell in cells:
        by_id.setdefault(cell.id, cell)
    return list(by_id.values())


def is_complete(spec: BenchmarkSpec, cell: Cell, opts: RunOptions) -> bool:
    """Whether every record of the cell exists (then it is skipped)."""
    return all(has_records(spec, cell, opts, m) for m in opts.preset.metrics_for(cell.model))


def ancestors(cell: Cell) -> List[Cell]:
    """The cell's stage-1 chain: its init_from, that cell's init_from, ..."""
    out = []
    while cell.init_from is not None:
        cell = cell.init_from
        out.append(cell)
    return out


def stage1_waves(cells: List[Cell], opts: RunOptions) -> List[List[Cell]]:
    """The distinct stage-1 cells of ``cells`` whose checkpoints are not finished, in waves to
    train one after the other: the deepest stage first (cells with no init_from)."""
    by_id = {a.id: a for cell in cells for a in ancestors(cell)}
    todo = [a for a in by_id.values() if not is_finished(checkpoint_dir(opts.workdir, a))]
    depths = sorted({len(ancestors(a)) for a in todo})
    return [[a for a in todo if len(ancestors(a)) == d] for d in depths]


def blocked_by(cell: Cell, failed: Dict[str, Outcome]) -> Outcome:
    """The outcome of the first failed cell among ``cell`` and its stage-1 chain, or None."""
    for c in [cell] + ancestors(cell):
        if c.id in failed:
            error, tb = failed[c.id]
            return (error, tb) if c is cell else (f"its stage-1 cell {c.model} [{c.id}] failed: {error}", None)
    return None


def absolute(opts: RunOptions) -> RunOptions:
    """Options with absolute folders: workers may start in another directory. Symbolic links
    are kept (a shared mount may be reached through a link on every node)."""
    return dataclasses.replace(opts, workdir=Path(os.path.abspath(opts.workdir)),
                               results=Path(os.path.abspath(opts.results)))


def run_jobs(spec: BenchmarkSpec, cells: List[Cell], opts: RunOptions, executor: str = "local", jobs: int = 1,
             address: Optional[str] = None, cpus_per_job: float = 1, gpus_per_job: float = 0) -> GridReport:
    """Run every cell that is missing records, with the named executor; see the module doc.

    Never raises for a failing cell: its error is in the returned report."""
    check_executor(executor, jobs, address, cpus_per_job, gpus_per_job)
    if spec.presets.get(opts.preset.name) != opts.preset:
        raise FactorbenchError(f"the options carry preset {opts.preset.name!r} of another benchmark, not of "
                               f"{spec.name}: build them with {spec.name}'s spec.preset(name)")
    opts = absolute(opts)
    cells = unique_cells(cells)
    results = {c.id: CellResult(c, "skipped") for c in cells if is_complete(spec, c, opts)}
    pending = [c for c in cells if c.id not in results]
    waves = stage1_waves(pending, opts)
    derived = derived_jobs(spec, pending, opts)
    in_waves = {c.id for wave in waves for c in wave}
    sources = [c for c in pending if c.id in derived and c.id not in in_waves
               and not is_finished(checkpoint_dir(opts.workdir, c))]
    if pending:
        in_process = executor == "local" and jobs == 1
        remote_opts = opts if in_process else dataclasses.replace(opts, progress=False)
        env = None if in_process else worker_env()
        threads = None if in_process else max(1, int(cpus_per_job))

        def job(cell: Cell, train_only: bool, run: Optional[DerivedRun] = None) -> Job:
            return Job(spec, cell, remote_opts, train_only, derived=run, env=env, threads=threads)

        total = sum(map(len, waves)) + len(sources) + sum(map(len, derived.values())) + len(pending)
        progress = Progress(total, f"{spec.name} [{opts.preset.name}]", opts.progress, len(results))
        backend = make_backend(executor, jobs, address, cpus_per_job, gpus_per_job)
        try:
            failed: Dict[str, Outcome] = {}
            for wave in waves + [sources]:  # stage-1 cells first, deepest stage first, then the
                run_wave(backend, wave, True, job, failed, progress)  # sources of derived runs: training only
            run_derived_wave(backend, pending, derived, job, failed, progress)
            for cell, outcome in run_wave(backend, pending, False, job, failed, progress):
                results[cell.id] = CellResult(cell, "done") if outcome is None else CellResult(cell, "failed", *outcome)
        finally:
            backend.close()
            progress.close()
    return GridReport(spec.name, opts.preset.name, [results[c.id] for c in cells])


def derived_jobs(spec: BenchmarkSpec, cells: List[Cell], opts: RunOptions) -> Dict[str, List[DerivedRun]]:
    """Cell id -> the derived runs its evaluators need that are not trained yet (fine-tuning
    and VAE-New, §4.4.2). A cell whose metric parameters cannot even name them gets none
    here: its own job then fails with that error (the driver never raises for a cell)."""
    out = {}
    for cell in cells:
        try:
            runs = cell_derived_runs(spec, cell, opts)
        except Exception:  # reported by the cell's job, like any other error of the cell
            runs = []
        if runs:
            out[cell.id] = runs
    return out


def run_derived_wave(backend, cells: List[Cell], derived: Dict[str, List[DerivedRun]],
                     job: Callable[..., Job], failed: Dict[str, Outcome], progress: Progress) -> None:
    """Train every derived run at once, one job each (their sources are trained by then). A
    cell one of whose derived runs failed is added to ``failed`` with that error, so its
    evaluation job is not dispatched; a cell whose source failed sends none."""
    jobs = []
    for cell in cells:
        runs = derived.get(cell.id, [])
        if blocked_by(cell, failed) is not None:
            for _ in runs:
                progress.finish(failed=True)
            continue
        jobs += [job(cell, False, run) for run in runs]
    for j, outcome in backend.run(jobs, progress.set_running):
        progress.finish(failed=outcome is not None)
        if outcome is not None and j.cell.id not in failed:
            error, tb = outcome
            failed[j.cell.id] = (f"its derived run {j.derived.variant} on {j.derived.target} failed: {error}", tb)


def run_wave(backend, cells: List[Cell], train_only: bool, job: Callable[[Cell, bool], Job],
             failed: Dict[str, Outcome], progress: Progress) -> List[Tuple[Cell, Outcome]]:
    """Run ``cells`` at once; returns (cell, outcome) pairs (outcome None: done) and adds the failures
    to ``failed``. A cell whose stage 1 is in ``failed`` is not dispatched and fails with
    that error."""
    outcomes: Dict[str, Tuple[Cell, Outcome]] = {}
    runnable = []
    for cell in cells:
        outcome = blocked_by(cell, failed)
        if outcome is None:
            runnable.append(cell)
        else:
            outcomes[cell.id] = (cell, outcome)
            progress.finish(failed=True)
    for j, outcome in backend.run([job(c, train_only) for c in runnable], progress.set_running):
        outcomes[j.cell.id] = (j.cell, outcome)
        progress.finish(failed=outcome is not None)
    failed.update({cid: o for cid, (_, o) in outcomes.items() if o is not None})
    return list(outcomes.values())
