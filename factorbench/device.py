"""Device selection and moving nested batches."""

from __future__ import annotations

from typing import Any, Optional

import torch

from .errors import FactorbenchError


def resolve_device(name: Optional[str]) -> str:
    """``None``/"auto" -> cuda if available else cpu; "cuda" without a GPU is an error."""
    if name in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FactorbenchError("--device cuda was requested but no CUDA GPU is available")
    if name != "cpu" and not name.startswith("cuda"):
        raise FactorbenchError(f"unknown device {name!r}; use cpu or cuda")
    return name


def to_device(obj: Any, device: str) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_device(v, device) for v in obj]
    return obj
