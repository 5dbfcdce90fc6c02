"""The checkpoint folder (DESIGN.md) and how it is written and read.

    config.json   everything needed to rebuild the run: model name and config, image
                  shape, dataset, train config, master seed, package versions
    model.pt      the model's state dict (the evaluation artefact)
    trainer.pt    the full resumable state: model and optimiser state dicts, step, RNG
                  states, ``finished`` flag
    losses.csv    per-step losses

``trainer.pt`` carries its own copy of the weights so that resuming never depends on two
files having been written in step: a process killed between the two writes resumes from
the consistent ``trainer.pt``. Every file is written atomically and loaded with
``weights_only=True`` (a checkpoint cannot run code).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Dict, List

import torch

from ..errors import FactorbenchError
from ..fileio import atomic_torch_save, atomic_write_json
from .base import GenerativeModel, build_model

CONFIG_FILE = "config.json"
MODEL_FILE = "model.pt"
TRAINER_FILE = "trainer.pt"
LOSSES_FILE = "losses.csv"


def write_run_config(folder: Path, run_config: Dict[str, Any]) -> None:
    atomic_write_json(Path(folder) / CONFIG_FILE, run_config)


def read_run_config(folder: Path) -> Dict[str, Any]:
    path = Path(folder) / CONFIG_FILE
    if not path.exists():
        raise FactorbenchError(f"{folder} is not a checkpoint folder (no {CONFIG_FILE})")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FactorbenchError(f"{path} is corrupt: {exc}") from None
    if not isinstance(config, dict):
        raise FactorbenchError(f"{path}: expected a JSON object, found {type(config).__name__}; "
                               "not a factorbench checkpoint")
    for key in ("model", "model_config", "image_shape", "dataset"):
        if key not in config:
            raise FactorbenchError(f"{path} is missing {key!r}; not a factorbench checkpoint")
    if not isinstance(config["dataset"], dict) or not isinstance(config["dataset"].get("name"), str):
        raise FactorbenchError(f"{path}: 'dataset' must be an object with a 'name' (the training dataset), "
                               f"found {config['dataset']!r}")
    return config


def load_state(path: Path, device: str = "cpu") -> Dict[str, Any]:
    """``torch.load`` with ``weights_only=True``; a damaged file is a one-line error."""
    if not path.exists():
        raise FactorbenchError(f"checkpoint file {path} is missing")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises many kinds for truncated/garbage files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FactorbenchError(f"checkpoint file {path} is corrupt or unreadable ({reason})") from None


def apply_state_dict(model: GenerativeModel, state: Dict[str, Any], where: Path) -> None:
    """Load weights strictly; a shape or key mismatch names the config as the likely cause.

    A tensor whose dtype differs from the model's is refused too: ``load_state_dict`` would
    cast it silently (integer weights rounded into floats, float counters truncated)."""
    if not isinstance(state, dict):
        raise FactorbenchError(f"{where} holds a {type(state).__name__}, not a state dict")
    own = model.state_dict()
    for key, value in state.items():
        if key in own and isinstance(value, torch.Tensor) and value.dtype != own[key].dtype:
            raise FactorbenchError(f"weights in {where}: {key} is {str(value.dtype).replace('torch.', '')}, the model "
                                   f"built from {where.parent / CONFIG_FILE} expects "
                                   f"{str(own[key].dtype).replace('torch.', '')}; the file was not written by this model")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        raise FactorbenchError(
            f"weights in {where} do not match the model built from {where.parent / CONFIG_FILE} ({detail})"
        ) from None


def save_model(folder: Path, model: GenerativeModel) -> None:
    atomic_torch_save(Path(folder) / MODEL_FILE, model.state_dict())


def load_model(folder: Path, device: str = "cpu") -> GenerativeModel:
    """Rebuild the model of checkpoint ``folder`` from its config and load ``model.pt``."""
    folder = Path(folder)
    config = read_run_config(folder)
    model = build_model(config["model"], config["model_config"], config["image_shape"])
    apply_state_dict(model, load_state(folder / MODEL_FILE, device), folder / MODEL_FILE)
    return model.to(device).eval()


def is_finished(folder: Path) -> bool:
    """Whether run folder ``folder`` holds a finished training (its trainer state says so)."""
    path = Path(folder) / TRAINER_FILE
    return path.exists() and bool(load_state(path).get("finished", False))


def epoch_means(path: Path, column: str = "loss") -> List[float]:
    """Mean of ``column`` of a run's loss log (``losses.csv``, written by
    :mod:`factorbench.train.losslog`) over each epoch's steps, epochs in order (a per-epoch curve)."""
    path = Path(path)
    if not path.exists():
        raise FactorbenchError(f"loss log {path} is missing")
    sums: Dict[int, List[float]] = {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or column not in reader.fieldnames or "epoch" not in reader.fieldnames:
            raise FactorbenchError(f"loss log {path} has no {column!r} column")
        for row in reader:
            acc = sums.setdefault(int(row["epoch"]), [0.0, 0])
            acc[0] += float(row[column])
            acc[1] += 1
    return [sums[e][0] / sums[e][1] for e in sorted(sums)]
