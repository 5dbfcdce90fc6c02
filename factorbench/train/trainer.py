"""The training loop: seeded, checkpointed, exactly resumable.

Seeds (one master seed, :func:`~factorbench.seeding.stage_seed` per stage):
``train/init`` for the weights, ``train/noise`` for the model's own sampling (the
reparameterisation noise), ``train/order/<epoch>`` for each epoch's data order. The data
order is a pure function of (seed, epoch), and the torch RNG state is saved in every
checkpoint, so a run killed after checkpoint k and resumed replays steps k+1.. exactly: on
CPU it ends with bit-identical weights to an uninterrupted run (tested).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import config_diff, config_to_dict
from ..data import get_dataset
from ..data.convert import convert_dataset
from ..device import to_device
from ..errors import FactorbenchError
from ..fileio import atomic_torch_save
from ..models import GenerativeModel, build_model
from ..seeding import fixed_threads, set_deterministic, stage_seed
from ..versions import __version__, package_versions
from ..models.checkpoint import (
    is_finished,
    CONFIG_FILE,
    LOSSES_FILE,
    MODEL_FILE,
    TRAINER_FILE,
    apply_state_dict,
    load_model,
    load_state,
    read_run_config,
    save_model,
    write_run_config,
)
from .config import TrainConfig
from ..models.run_lock import RunLock
from .losslog import LossLog

#: one line per finished epoch when the CLI has no terminal for the bar (factorbench.cli.support)
PROGRESS = logging.getLogger("factorbench.progress")


@dataclass
class TrainRun:
    """Everything that determines a training run (saved as the checkpoint's config.json)."""

    model: str
    model_config: Dict[str, Any]
    dataset: str
    out: Path
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    #: size of the training split (None: the dataset's default) and its generation seed
    dataset_n: Optional[int] = None
    dataset_seed: int = 0
    #: fine-tuning (thesis §4.4.2): start from the weights of this finished checkpoint
    #: folder instead of a fresh initialisation (the optimiser state starts fresh)
    init_from: Optional[Path] = None
    #: convert the dataset's images to this (C, H, W) before training (§4.4: "we resize all
    #: the images to 64x64 ... convert MNIST to RGB"); None: train at the dataset's shape
    image_shape: Optional[Sequence[int]] = None
    #: the split trained on ("train", or e.g. "all" for CUB: thesis §5.4.2 "the whole dataset")
    dataset_split: str = "train"

    def describe(self, model: GenerativeModel) -> Dict[str, Any]:
        return {
            "model": self.model,
            "model_config": config_to_dict(model.config),
            "image_shape": list(model.image_shape),
            "dataset": {"name": self.dataset, "split": self.dataset_split, "n": self.dataset_n,
                        "seed": self.dataset_seed},
            "train": self.train.key(),
            "seed": self.seed,
            "init_from": None if self.init_from is None else str(self.init_from),
        }


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The data order of ``epoch``: a permutation that depends only on (seed, epoch)."""
    return np.random.default_rng(stage_seed(seed, f"train/order/{epoch}")).permutation(n)


def train(
    run: TrainRun,
    device: str = "cpu",
    resume: bool = False,
    progress: bool = True,
    on_step: Optional[Callable[[int], None]] = None,
    wait: Optional[float] = 0,
) -> GenerativeModel:
    """Train ``run`` into ``run.out``; with ``resume``, continue from its last checkpoint.

    Everything that can be checked is checked before the folder is touched, and the folder
    is locked for the whole run (:mod:`.lock`): another process training it makes this call
    wait up to ``wait`` seconds (None: until it is done), after which a finished run is
    simply returned. A folder whose run never reached its first checkpoint (config.json,
    no trainer.pt) starts over, with or without ``resume``.

    ``on_step(step)`` is called after every optimisation step (and after that step's
    checkpoint, if one was due); tests use it to interrupt a run. In deterministic mode the
    run uses a fixed number of torch threads (:func:`~factorbench.seeding.fixed_threads`),
    so its weights do not depend on the machine's core count or the executor.
    """
    with fixed_threads(run.train.deterministic):
        return _train(run, device, resume, progress, on_step, wait)


def _train(run: TrainRun, device: str, resume: bool, progress: bool,
           on_step: Optional[Callable[[int], None]], wait: Optional[float]) -> GenerativeModel:
    out = Path(run.out)
    if run.train.deterministic:
        set_deterministic(True)
    dataset = get_dataset(run.dataset, run.dataset_split, n=run.dataset_n, seed=run.dataset_seed)
    if run.image_shape is not None:
        dataset = convert_dataset(dataset, run.image_shape)
    torch.manual_seed(stage_seed(run.seed, "train/init"))
    model = build_model(run.model, run.model_config, dataset.image_shape).to(device)
    optimizers = model.make_optimizers()
    described = run.describe(model)
    if getattr(model, "stage1_model", None) and run.init_from is None and not (out / TRAINER_FILE).exists():
        raise FactorbenchError(f"{run.model} is trained on top of a {model.stage1_model}: train one first and "
                               f"start from it (--init-from <{model.stage1_model} checkpoint>)")
    batch_size = run.train.batch_size
    steps_per_epoch = len(dataset) // batch_size
    if steps_per_epoch == 0:  # before the folder exists: a retry with a smaller batch is not blocked
        raise FactorbenchError(f"dataset {run.dataset} has {len(dataset)} images, fewer than batch size {batch_size}")
    with RunLock(out, wait=wait):
        return _train_locked(run, out, dataset, model, optimizers, described, device, resume, progress, on_step,
                             steps_per_epoch)


def _train_locked(run: TrainRun, out: Path, dataset, model: GenerativeModel, optimizers, described: Dict[str, Any],
                  device: str, resume: bool, progress: bool, on_step: Optional[Callable[[int], None]],
                  steps_per_epoch: int) -> GenerativeModel:
    """The body of :func:`train`, run while ``out`` is locked."""
    state = _prepare_folder(out, described, resume)
    step, seconds_before = 0, 0.0
    torch.manual_seed(stage_seed(run.seed, "train/noise"))
    if state is not None:
        apply_state_dict(model, state["model"], out / TRAINER_FILE)
        for name, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        step = int(state["step"])
        seconds_before = float(state.get("train_seconds", 0.0))
        if state.get("finished"):
            return model.eval()
    else:
        if run.init_from is not None:
            init_from_checkpoint(model, run.model, Path(run.init_from))
        write_run_config(out, {**described, "versions": package_versions(), "factorbench": __version__})

    batch_size = run.train.batch_size
    total = run.train.epochs * steps_per_epoch
    every = run.train.checkpoint_every or steps_per_epoch
    log = LossLog(out / LOSSES_FILE)
    log.truncate_after(step)
    phases = model.phases()
    bf16 = run.train.precision == "bf16"
    autocast_device = "cuda" if str(device).startswith("cuda") else "cpu"
    order, order_epoch = None, -1
    bar = tqdm(total=total, initial=step, desc=f"train {run.model}", disable=not progress, unit="step", leave=False)
    started = time.perf_counter()

    def seconds() -> float:
        return seconds_before + time.perf_counter() - started

    try:
        while step < total:
            epoch, pos = divmod(step, steps_per_epoch)
            if epoch != order_epoch:
                order, order_epoch = epoch_order(run.seed, epoch, len(dataset)), epoch
            batch = to_device(dataset.batch(order[pos * batch_size:(pos + 1) * batch_size]), device)
            model.train()
            logged: Dict[str, float] = {}
            for phase in phases:
                opt = optimizers[phase.optimizer]
                opt.zero_grad(set_to_none=True)
                with torch.autocast(autocast_device, dtype=torch.bfloat16, enabled=bf16):
                    losses = model.training_step(batch, phase.name)
                loss = losses["loss"]
                if not torch.isfinite(loss):
                    raise FactorbenchError(
                        f"training diverged: {phase.name} loss is {loss.item()} at step {step + 1}; "
                        f"the last good checkpoint is in {out}"
                    )
                loss.backward()
                opt.step()
                prefix = "" if len(phases) == 1 else f"{phase.name}/"
                logged.update({prefix + k: float(v.detach()) for k, v in losses.items()})
            step += 1
            log.append(step, epoch, logged)
            bar.update(1)
            bar.set_postfix(loss=f"{logged.get('loss', next(iter(logged.values()))):.4g}", refresh=False)
            if step % steps_per_epoch == 0:
                PROGRESS.info("train %s on %s: epoch %d/%d done (step %d/%d, loss %.4g) -> %s", run.model, run.dataset,
                              epoch + 1, run.train.epochs, step, total, logged.get("loss", float("nan")), out)
            if step % every == 0 or step == total:
                _save_trainer_state(out, model, optimizers, step, finished=False, train_seconds=seconds())
            if on_step is not None:
                on_step(step)
    finally:
        bar.close()
        log.close()
    save_model(out, model)
    _save_trainer_state(out, model, optimizers, step, finished=True, train_seconds=seconds())
    return model.eval()


def init_from_checkpoint(model: GenerativeModel, model_name: str, source: Path) -> None:
    """Start ``model`` from the finished checkpoint ``source`` (same image shape).

    - Same model: copy its weights and BatchNorm statistics, strictly (an architecture
      mismatch is a one-line error): fine-tuning (thesis §4.4.2, "VAE-Tune starts from a
      pre-trained VAE").
    - Another model: the second stage of a two-stage model (LSR-GAN on a trained VAE,
      §3.2.1): ``model.init_from_pretrained(source_model)`` decides what to take; a model
      without that method cannot start from another model.
    """
    config = read_run_config(source)
    hook = getattr(model, "init_from_pretrained", None)
    if config["model"] != model_name and hook is None:
        raise FactorbenchError(f"cannot start a {model_name} from {source}: it holds a {config['model']}")
    if tuple(config["image_shape"]) != tuple(model.image_shape):
        raise FactorbenchError(f"cannot fine-tune from {source}: it was trained at image shape "
                               f"{tuple(config['image_shape'])}, this run trains at {tuple(model.image_shape)} "
                               f"(set the run's image_shape to convert the data)")
    if not is_finished(source):
        raise FactorbenchError(f"cannot fine-tune from {source}: its training has not finished")
    if config["model"] != model_name:
        hook(load_model(source, str(model.device)))
        return
    apply_state_dict(model, load_state(source / MODEL_FILE), source / MODEL_FILE)


def _prepare_folder(out: Path, described: Dict[str, Any], resume: bool) -> Optional[Dict[str, Any]]:
    """Check ``out`` against the requested run; the resumable state if resuming, else None."""
    has_config = (out / CONFIG_FILE).exists()
    if has_config and not (out / TRAINER_FILE).exists() and not (out / MODEL_FILE).exists():
        # an unfinished step-0 folder (killed or failed before its first checkpoint): nothing
        # to keep, and no other process is training it (we hold its lock); start over
        (out / CONFIG_FILE).unlink()
        (out / LOSSES_FILE).unlink(missing_ok=True)
        has_config = False
    if not resume:
        if has_config:
            raise FactorbenchError(f"{out} already holds a training run; pass --resume to continue it or pick another --out")
        out.mkdir(parents=True, exist_ok=True)
        return None
    if not has_config:
        out.mkdir(parents=True, exist_ok=True)
        return None  # nothing to resume: start fresh
    saved = read_run_config(out)
    diff = config_diff({k: saved.get(k) for k in described}, described)
    if diff:
        shown = "; ".join(f"{k}: saved {a!r}, requested {b!r}" for k, (a, b) in diff.items())
        raise FactorbenchError(f"cannot resume {out}: the requested run differs from the saved one ({shown})")
    if not (out / TRAINER_FILE).exists():
        return None  # no resumable state: start fresh
    return load_state(out / TRAINER_FILE)


def _save_trainer_state(out: Path, model, optimizers, step: int, finished: bool, train_seconds: float) -> None:
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    state = {
        "model": model.state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "step": step,
        "rng": rng,
        "finished": finished,
        #: wall-clock seconds spent in the training loop, summed over resumed sessions
        "train_seconds": train_seconds,
    }
    atomic_torch_save(out / TRAINER_FILE, state)
