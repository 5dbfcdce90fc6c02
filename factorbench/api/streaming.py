"""``fb.FID``: FID fed batch by batch, as images are generated (torchmetrics-style update/compute).

Only Inception features are kept, and of them only running moments
(:class:`~factorbench.metrics.running_moments.RunningMoments`): memory is O(2048²) per side
whatever the number of images, and at most ``batch_size − 1`` images wait in a buffer.
Each image goes through the same mode pipeline as :func:`factorbench.api.fid` (docs/protocols.md §4.1,
:func:`factorbench.metrics.fid.prepare_batch`) in the same chunks of ``batch_size``, so the
features are the same and the value equals ``fb.fid`` on the same images to float64
rounding (tested to 1e-9 relative).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

from ..errors import FactorbenchError
from .results import Result

SIDES = ("fake", "real")


class _Side:
    """One side's running moments, buffer and what the protocol needs to know of it."""

    def __init__(self) -> None:
        from ..metrics.running_moments import RunningMoments

        self.moments = RunningMoments()
        self.buffer: list = []
        self.buffered = 0
        self.seen = 0
        self.dtype = None
        self.shape = None
        self.batches = 0


class FID:
    """Incremental FID: ``update(images, real=True|False)`` any number of times, then
    ``compute()``. ``mode`` is ``direct``, ``saved`` or ``clean``; ``size`` the evaluation
    size (default: the images' size, which must then agree across all updates).

    >>> metric = fb.FID(mode="saved")                                      # doctest: +SKIP
    >>> for batch in loader: metric.update(batch, real=True)               # doctest: +SKIP
    >>> for _ in range(10): metric.update(model.sample(50), real=False)    # doctest: +SKIP
    >>> metric.compute().value                                             # doctest: +SKIP
    """

    def __init__(self, mode: str = "saved", size: Optional[int] = None, batch_size: int = 32,
                 device: Optional[str] = None):
        from ..device import resolve_device
        from ..metrics.fid import MODES

        if mode not in MODES:
            raise FactorbenchError(f"unknown FID mode {mode!r}; modes: {', '.join(MODES)}")
        if size is not None and int(size) < 2:
            raise FactorbenchError(f"size must be at least 2, got {size}")
        if batch_size < 1:
            raise FactorbenchError(f"batch_size must be at least 1, got {batch_size}")
        self.mode, self.size, self.batch_size = mode, size, int(batch_size)
        self.device = resolve_device(device)
        self._tmp = tempfile.TemporaryDirectory(prefix="factorbench-png-")
        self.reset()

    def reset(self) -> None:
        """Forget every update (keeps mode, size and device)."""
        self._sides: Dict[str, _Side] = {s: _Side() for s in SIDES}

    def update(self, images: Any, real: bool, n: Optional[int] = None) -> None:
        """Add a batch (tensor/array (B, C, H, W), uint8 or float in [0, 1]), an iterable of
        batches, or an image folder / dataset name (its first ``n`` images), to the real or
        the fake side."""
        from ..metrics.image_sources import Images
        from .inputs import as_batch, resolve_side

        name = "real" if real else "fake"
        side = self._sides[name]
        if isinstance(images, (str, Path, Images)):
            images = resolve_side(images, name, n, batch_size=self.batch_size, device=self.device)
            if not isinstance(images, Images):
                raise FactorbenchError(f"fb.FID.update needs images, not a statistics file ({images})")
            images = images.data
        batches = [images] if hasattr(images, "shape") else images
        for b in batches:
            self._add(side, as_batch(b, f"{name} images"), name)

    def _add(self, side: _Side, batch, name: str) -> None:
        if side.dtype is None:
            side.dtype, side.shape = batch.dtype, tuple(batch.shape[1:])
        elif (batch.dtype, tuple(batch.shape[1:])) != (side.dtype, side.shape):
            raise FactorbenchError(f"{name} images: this batch is {batch.dtype} {tuple(batch.shape[1:])}, earlier "
                                   f"ones were {side.dtype} {side.shape}; all batches of a side must agree")
        if self.size is None:
            other = self._sides["fake" if name == "real" else "real"].shape
            if other is not None and other[-1] != batch.shape[-1]:
                raise FactorbenchError(f"fake and real images differ in size ({other[-1]} vs {batch.shape[-1]}): "
                                       "pass size= to fb.FID to resize both to one evaluation size")
        side.batches += 1
        side.buffer.append(batch)
        side.buffered += len(batch)
        while side.buffered >= self.batch_size:
            self._extract(side, self.batch_size)

    def _extract(self, side: _Side, count: int) -> None:
        """Features of the first ``count`` buffered images, into the running moments."""
        import torch

        from ..metrics.fid import prepare_batch
        from ..metrics.inception import get_extractor

        data = torch.cat(side.buffer)
        chunk, rest = data[:count], data[count:]
        side.buffer, side.buffered = ([rest] if len(rest) else []), len(rest)
        x = prepare_batch(chunk, self.mode, self._eval_size(), Path(self._tmp.name), side.seen)
        with torch.no_grad():
            (features,) = get_extractor(self.device)(x.to(self.device))
        side.moments.add(features.cpu().numpy().astype("float32"))
        side.seen += len(chunk)

    def _eval_size(self) -> int:
        if self.size is not None:
            return int(self.size)
        shapes = [s.shape for s in self._sides.values() if s.shape is not None]
        return int(shapes[0][-1])

    def compute(self) -> Result:
        """The FID of everything added so far, with its protocol (as :func:`fb.fid`'s)."""
        import torch

        from ..metrics.fid import Stats, fid_record
        from ..metrics.image_sources import Images

        for name, side in self._sides.items():
            if side.buffered:
                self._extract(side, side.buffered)
            if side.moments.n < 2:
                raise FactorbenchError(f"fb.FID has {side.moments.n} {name} image(s); it needs at least 2 per side")
        stats, described = {}, {}
        for name, side in self._sides.items():
            mu, sigma = side.moments.statistics()
            stats[name] = Stats(mu, sigma, side.moments.n)
            # the protocol only reads dtype and size of a side's images: describe them by an empty batch
            described[name] = Images(torch.empty((0, *side.shape), dtype=side.dtype),
                                     {"kind": "stream", "n": side.moments.n, "batches": side.batches})
        size = self._eval_size()
        record = fid_record(described["fake"], described["real"], self.mode, size, stats["fake"], stats["real"])
        return Result(record["metric"], record["value"], record["protocol"])
