"""One cell of a benchmark grid: train what is missing, evaluate what is missing, write records.

Each cell's checkpoint lives in ``<workdir>/checkpoints/<model>-<cell id>/`` (the cell id
hashes model, model config, dataset, training settings and seed, so a checkpoint is
reused by every benchmark that asks for the same run). A cell whose checkpoint is
finished is not retrained; a metric whose records exist is not re-evaluated; a run killed
part-way resumes from its last checkpoint.

:func:`run_cell` is the job that every executor runs (:mod:`.executors`); :mod:`.external`
shares :func:`load_splits`. Nothing here imports the runner or the executors.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, List, Optional

from ..config import config_to_dict
from ..data import get_dataset
from ..data.convert import convert_dataset
from ..evaluators import EVALUATORS, EvalContext
from ..evaluators.base import derived_runs
from ..seeding import fixed_threads, stage_seed
from ..train import TrainRun, train
from ..train.derived import train_derived
from ..errors import FactorbenchError
from ..models.checkpoint import is_finished, load_model
from ..models.derived import DerivedRun
from .run_options import RunOptions
from .spec import BenchmarkSpec, Cell, DatasetSpec
from .store import has_record, make_record, write_record


def checkpoint_dir(workdir: Path, cell: Cell) -> Path:
    return Path(workdir) / "checkpoints" / f"{cell.model}-{cell.id}"


def figures_dir(opts: RunOptions, spec: BenchmarkSpec, cell: Cell) -> Path:
    """Where a cell's evaluators write their figures: ``<results>/figures/<bench>/<preset>/<model>-<cell id>/``."""
    return Path(opts.results) / "figures" / spec.name / opts.preset.name / f"{cell.model}-{cell.id}"


def has_records(spec: BenchmarkSpec, cell: Cell, opts: RunOptions, metric: str) -> bool:
    """Whether every value of evaluator ``metric`` (each output, each target) is recorded."""
    evaluator = EVALUATORS.get(metric)
    targets = evaluator.targets(opts.preset.metric_params.get(metric, {}))
    return all(has_record(opts.results, spec.name, opts.preset.name, cell.id, out, target)
               for out in evaluator.outputs for target in targets)


def train_cell(cell: Cell, opts: RunOptions) -> Path:
    """Train (or resume) ``cell`` unless its checkpoint is finished; a two-stage cell first
    gets its stage-1 cell trained the same way and starts from it. Returns the folder."""
    folder = checkpoint_dir(opts.workdir, cell)
    if is_finished(folder):
        return folder
    source = None if cell.init_from is None else train_cell(cell.init_from, opts)
    run = TrainRun(cell.registered, cell.model_config, cell.dataset.name, folder, seed=cell.seed, train=cell.train,
                   dataset_n=cell.dataset.n_train, dataset_seed=cell.dataset.seed, init_from=source,
                   dataset_split=cell.dataset.train_split,
                   image_shape=cell.dataset.image_shape)
    # wait=None: another process training the same cell is waited for; its run is then finished
    train(run, device=opts.device, resume=True, progress=opts.progress, wait=None)
    return folder


def load_splits(ds: DatasetSpec, memo: Dict[tuple, tuple]) -> tuple:
    """(train, test) of a cell's dataset, read once per benchmark run and shared by its cells;
    "train" is the split the cell trains on (``ds.train_split``, e.g. ``all`` for CUB)."""
    key = (ds.name, ds.train_split, ds.n_train, ds.n_test, ds.seed,
           None if ds.image_shape is None else tuple(ds.image_shape))
    if key not in memo:
        splits = (get_dataset(ds.name, ds.train_split, n=ds.n_train, seed=ds.seed),
                  get_dataset(ds.name, "test", n=ds.n_test, seed=ds.seed))
        memo[key] = splits if ds.image_shape is None else tuple(convert_dataset(s, ds.image_shape) for s in splits)
    return memo[key]


def cell_derived_runs(spec: BenchmarkSpec, cell: Cell, opts: RunOptions) -> List[DerivedRun]:
    """The derived runs (fine-tuning, VAE-New; §4.4.2) that the cell's unrecorded metrics
    load and that are not trained yet, each once, in metric order."""
    runs: List[DerivedRun] = []
    source = checkpoint_dir(opts.workdir, cell)
    for metric in opts.preset.metrics_for(cell.model):
        if has_records(spec, cell, opts, metric):
            continue
        for run in derived_runs(EVALUATORS.get(metric), opts.preset.metric_params.get(metric, {})):
            if run not in runs and not is_finished(run.folder(source)):
                runs.append(run)
    return runs


def train_derived_run(cell: Cell, run: DerivedRun, opts: RunOptions) -> Path:
    """The derived-run job: train (or resume) ``run`` from the cell's finished checkpoint,
    on the cell's fixed thread count in deterministic mode, as :func:`run_cell` would."""
    source = checkpoint_dir(opts.workdir, cell)
    if not is_finished(source):
        raise FactorbenchError(f"the derived run {run.variant} on {run.target} needs the finished checkpoint "
                               f"{source}, which is not trained")
    with fixed_threads(cell.train.deterministic):
        return train_derived(source, [run], device=opts.device, progress=opts.progress)[0]


def run_cell(spec: BenchmarkSpec, cell: Cell, opts: RunOptions, splits: Optional[Dict[tuple, tuple]] = None) -> None:
    """Train (or resume) the cell's model, then evaluate each metric not yet recorded.

    ``splits`` memoises the dataset splits across the cells of one run (see :func:`load_splits`).
    In deterministic mode (the cell's ``train.deterministic``) training and evaluation run on
    a fixed torch thread count (:func:`~factorbench.seeding.fixed_threads`), the same in this
    process, a pool worker or a Ray worker, and each record's protocol states it
    (``torch_threads``; ``None``: not fixed)."""
    preset = opts.preset
    missing = [m for m in preset.metrics_for(cell.model) if not has_records(spec, cell, opts, m)]
    if not missing:
        return
    with fixed_threads(cell.train.deterministic) as threads:
        _train_and_evaluate(spec, cell, opts, missing, splits, threads)


def _train_and_evaluate(spec: BenchmarkSpec, cell: Cell, opts: RunOptions, missing: List[str],
                        splits: Optional[Dict[tuple, tuple]], threads: Optional[int]) -> None:
    preset = opts.preset
    folder = train_cell(cell, opts)
    model = load_model(folder, opts.device)
    ds = cell.dataset
    train_ds, test_ds = load_splits(ds, {} if splits is None else splits)
    # the derived-run stage (fine-tuning, §4.4.2) before the evaluators that load it: the
    # executors train these as jobs of their own first, so here there is normally none left
    train_derived(folder, cell_derived_runs(spec, cell, opts), device=opts.device, progress=opts.progress)
    for metric in missing:
        ctx = EvalContext(model, train_ds, test_ds, device=opts.device, seed=stage_seed(cell.seed, f"eval/{metric}"),
                          batch_size=preset.eval_batch_size, progress=opts.progress,
                          figures=figures_dir(opts, spec, cell), checkpoint=folder)
        for value in EVALUATORS.get(metric)(ctx, **preset.metric_params.get(metric, {})):
            write_record(opts.results, make_record(
                benchmark=spec.name, preset=opts.preset.name, cell_id=cell.id, metric=value.metric, value=value.value,
                model=cell.model, dataset=dataclasses.asdict(ds), hparams=config_to_dict(model.config),
                train=cell.train.key(), grid=cell.grid, seed=cell.seed,
                protocol={**value.protocol, "torch_threads": threads},
                checkpoint=str(folder), target=value.target,
            ))
