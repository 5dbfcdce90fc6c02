"""Training: seeding, the loop, checkpoint/resume, the per-step loss log."""

from .config import TrainConfig  # noqa: F401
from ..models.checkpoint import load_model, read_run_config  # noqa: F401
from .trainer import TrainRun, train  # noqa: F401
