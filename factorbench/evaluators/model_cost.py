"""What a model costs: saved size and training time (thesis §5.4.2: "our model has, by a
considerable margin, the smallest number of parameters and training time ... The size of
our BFVAE+LSR-GAN is only 22.1MB").

- ``model_size_mb``: size of the checkpoint's ``model.pt`` (all weights and buffers the
  model needs, frozen earlier stages included) in MB = 10^6 bytes;
- ``n_parameters_m``: parameters in millions (trainable and frozen);
- ``train_seconds``: wall-clock seconds of this run's training loop (summed over resumed
  sessions), and ``train_seconds_total`` with its earlier stages (``init_from`` chain:
  BFVAE -> E'_f -> LSR-GAN) added. Times depend on the machine and on what else ran on it;
  compare them within one table run only.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

from ..errors import FactorbenchError
from .base import EvalContext, MetricValue, register_evaluator


def run_seconds(folder: Path) -> float:
    """Training seconds recorded in a checkpoint folder (0 for checkpoints from before
    factorbench recorded them)."""
    from ..models.checkpoint import TRAINER_FILE, load_state

    return float(load_state(Path(folder) / TRAINER_FILE).get("train_seconds", 0.0))


def chain_seconds(folder: Path) -> float:
    """Training seconds of ``folder`` plus those of its ``init_from`` chain."""
    from ..models.checkpoint import read_run_config

    total, seen = 0.0, set()
    current = Path(folder)
    while current is not None and current.resolve() not in seen:
        seen.add(current.resolve())
        total += run_seconds(current)
        source = read_run_config(current).get("init_from")
        current = Path(source) if source else None
    return total


@register_evaluator("model_cost", {"model_size_mb": "lower", "n_parameters_m": "lower", "train_seconds": "lower",
                                   "train_seconds_total": "lower"})
def evaluate_model_cost(ctx: EvalContext) -> List[MetricValue]:
    from ..models.checkpoint import MODEL_FILE

    if ctx.checkpoint is None:
        raise FactorbenchError("model_cost needs the model's checkpoint folder")
    folder = Path(ctx.checkpoint)
    size = (folder / MODEL_FILE).stat().st_size
    n_params = sum(p.numel() for p in ctx.model.parameters())
    protocol = {"checkpoint": str(folder), "mb": "10^6 bytes", "device": ctx.device,
                "note": "wall-clock time on the machine that trained it"}
    return [MetricValue("model_size_mb", size / 1e6, protocol),
            MetricValue("n_parameters_m", n_params / 1e6, protocol),
            MetricValue("train_seconds", run_seconds(folder), protocol),
            MetricValue("train_seconds_total", chain_seconds(folder), protocol)]
