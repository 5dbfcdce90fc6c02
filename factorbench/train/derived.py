"""The derived-run stage: train the runs an evaluator needs from a finished checkpoint
(fine-tuning it, or its architecture from scratch; thesis §4.4.2) before the evaluator runs.

Each derived run is an ordinary checkpointed training run stored beneath its source
(:meth:`factorbench.models.derived.DerivedRun.folder`), so it is trained once and reused by
every evaluator or benchmark that asks for the same settings. Both variants use the
source's model config and the seed ``stage_seed(source seed, "finetune")`` (the same data
order and noise; VAE-New's initialisation is not the source's); VAE-Tune starts from the
source weights (``init_from``, fresh Adam state), VAE-New from the ordinary seeded
initialisation. Target images are converted to the source's input shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, List

from ..models.checkpoint import read_run_config
from ..models.derived import VARIANTS, DerivedRun
from ..seeding import stage_seed
from .config import TrainConfig
from .trainer import TrainRun, train


def derived_run(source: Path, run: DerivedRun) -> TrainRun:
    """The training run of derived run ``run`` from the finished checkpoint ``source``."""
    source = Path(source)
    config = read_run_config(source)
    settings = run.settings
    return TrainRun(
        model=config["model"], model_config=config["model_config"], dataset=run.target, out=run.folder(source),
        seed=stage_seed(int(config.get("seed", 0)), "finetune"),
        train=TrainConfig(epochs=settings.epochs, batch_size=settings.batch_size),
        dataset_n=settings.n_train, dataset_seed=settings.dataset_seed,
        init_from=source if VARIANTS[run.variant] else None, image_shape=config["image_shape"],
    )


def train_derived(source: Path, runs: Iterable[DerivedRun], device: str = "cpu", progress: bool = False) -> List[Path]:
    """Train (or resume, or reuse) each derived run of ``source``; returns their folders. A
    run another process is training is waited for (then found finished), as a cell's is."""
    folders = []
    for run in runs:
        spec = derived_run(source, run)
        train(spec, device=device, resume=True, progress=progress, wait=None)
        folders.append(Path(spec.out))
    return folders
