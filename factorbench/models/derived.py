"""Runs derived from a trained checkpoint: fine-tuning it (VAE-Tune) or training its
architecture from scratch (VAE-New) on a small target set (thesis §4.4.2, Figs 4.4/4.5).

This module only *names* them: the settings of the §4.4.2 protocol and where each derived
run's folder lies beneath its source checkpoint
(``<source>/derived/<vae-tune|vae-new>-<target>-<hash>/``). They are trained as a stage of
the benchmark (:func:`factorbench.train.derived.train_derived`, called by the benchmark
runner and by ``fb.evaluate``) before any evaluator runs; evaluators only load them
(:func:`load_derived`), so no evaluator trains (docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import FactorbenchError
from .checkpoint import is_finished, load_model

#: the two runs of §4.4.2: name -> whether it starts from the source weights
VARIANTS = {"vae-tune": True, "vae-new": False}
#: their names in the thesis's figures
LABELS = {"vae-tune": "VAE-Tune", "vae-new": "VAE-New"}


@dataclass(frozen=True)
class FinetuneSettings:
    """The §4.4.2 protocol; defaults are the thesis's (100 images, 50 epochs)."""

    #: target training images (drawn from the target's train split of this size)
    n_train: int = 100
    epochs: int = 50
    #: the thesis does not say; 20 gives 5 steps per epoch on 100 images
    batch_size: int = 20
    #: target test images for the ELBO and the reconstructions
    n_test: int = 500
    #: generation seed of the target dataset's splits
    dataset_seed: int = 0

    def __post_init__(self) -> None:
        if min(self.n_train, self.epochs, self.batch_size, self.n_test) <= 0:
            raise FactorbenchError("finetune: n_train, epochs, batch_size and n_test must be positive")
        if self.batch_size > self.n_train:
            raise FactorbenchError(f"finetune: batch_size {self.batch_size} exceeds n_train {self.n_train}")


@dataclass(frozen=True)
class DerivedRun:
    """One derived run an evaluator needs: ``variant`` trained on ``target`` under ``settings``."""

    variant: str
    target: str
    settings: FinetuneSettings

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise FactorbenchError(f"unknown fine-tuning variant {self.variant!r}; variants: {', '.join(VARIANTS)}")

    def folder(self, source: Path) -> Path:
        """Its run folder beneath checkpoint ``source``: a hash of what it is trained with
        (``n_test`` is evaluation only, so it is left out)."""
        trained_by = {k: v for k, v in dataclasses.asdict(self.settings).items() if k != "n_test"}
        key = {"target": self.target, "settings": trained_by, "variant": self.variant}
        digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
        return Path(source) / "derived" / f"{self.variant}-{self.target}-{digest}"


def load_derived(source: Path, run: DerivedRun, device: str = "cpu"):
    """The trained derived run of checkpoint ``source``: (model in eval mode, its folder).
    One clear line if the derived stage has not trained it."""
    folder = run.folder(source)
    if not is_finished(folder):
        raise FactorbenchError(f"the derived run {run.variant} on {run.target} of {source} is not trained ({folder}); "
                               "derived runs are a stage of `factorbench bench run` and of fb.evaluate, "
                               "trained before the evaluator (factorbench.train.derived.train_derived)")
    return load_model(folder, device), folder
