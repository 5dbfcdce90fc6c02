"""External rows of a benchmark: models not trained by factorbench, read from folders of
their generated images (docs/protocols.md §3 "External models"; the LR-GAN, FineGAN and MixNMatch rows of
thesis Tables 5.3/5.4, which the thesis produced with each author's public code).

A preset names them in ``external = { finegan = "samples/finegan/{dataset}" }``; for each
dataset of the grid the folder (``{dataset}`` replaced by the dataset's name) must hold at
least as many PNG/JPEG images as the metric asks for (e.g. ``fid = { n = 10000 }``), all of
one size. The preset's ``external_metrics`` (default: ``fid``) run on them exactly as on a
trained model's random samples — same reference statistics, same saved/direct protocols —
and their records (seed 0, ``hparams.folder``) become rows of the table.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional

import torch

from ..errors import FactorbenchError
from ..evaluators import EVALUATORS, EvalContext
from ..metrics.image_sources import folder_images
from ..seeding import fixed_threads, stage_seed
from .cells import load_splits
from .run_options import RunOptions
from .spec import BenchmarkSpec, ExternalRow
from .store import has_record, make_record, write_record


class FolderSamples:
    """A folder of generated images standing in for a model: ``sample(n)`` returns its next
    n images (sorted by file name) as floats in [0, 1]; it has no encoder."""

    def __init__(self, name: str, folder):
        self.name = name
        self.folder = folder
        self.images = folder_images(folder).data  # uint8 (N, C, H, W); one clear error if unreadable
        self.cursor = 0
        #: the samples were rounded when their authors' code saved them (FID protocols state it)
        self.stored_steps = [f"samples stored as 8-bit image files in {folder}"]

    def eval(self) -> "FolderSamples":
        return self

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        if self.cursor + n > len(self.images):
            raise FactorbenchError(f"{self.folder} holds {len(self.images)} images; the metric needs at least "
                                   f"{self.cursor + n} (lower its n or add samples)")
        out = self.images[self.cursor:self.cursor + n].float() / 255
        self.cursor += n
        return out

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        raise FactorbenchError(f"external row {self.name} is a folder of samples; it cannot reconstruct "
                               "(list only sample-based metrics such as fid in external_metrics)")


def has_external_records(spec: BenchmarkSpec, row: ExternalRow, opts: RunOptions, metric: str) -> bool:
    evaluator = EVALUATORS.get(metric)
    return all(has_record(opts.results, spec.name, opts.preset.name, row.id, out) for out in evaluator.outputs)


def evaluate_external(spec: BenchmarkSpec, opts: RunOptions, splits: Optional[Dict[tuple, tuple]] = None) -> int:
    """Evaluate every external row's metrics not yet recorded; returns how many ran."""
    preset = opts.preset
    splits = {} if splits is None else splits
    ran = 0
    for row in spec.external_rows(opts.preset):
        for metric in preset.external_metrics:
            if has_external_records(spec, row, opts, metric):
                continue
            train_ds, test_ds = load_splits(row.dataset, splits)
            ctx = EvalContext(FolderSamples(row.name, row.folder), train_ds, test_ds, device=opts.device,
                              seed=stage_seed(0, f"eval/{metric}"), batch_size=preset.eval_batch_size,
                              progress=opts.progress)
            with fixed_threads() as threads:  # as a deterministic cell's evaluation (seeding.py)
                values = EVALUATORS.get(metric)(ctx, **preset.metric_params.get(metric, {}))
            for value in values:
                write_record(opts.results, make_record(
                    benchmark=spec.name, preset=preset.name, cell_id=row.id, metric=value.metric, value=value.value,
                    model=row.name, dataset=dataclasses.asdict(row.dataset), hparams={"folder": str(row.folder)},
                    train={}, grid=row.grid, seed=0, protocol={**value.protocol, "torch_threads": threads}, checkpoint=None,
                    target=value.target,
                ))
            ran += 1
    return ran
