"""Classifier accuracy of reconstructions (docs/protocols.md §4.2; thesis §3.2.2, §3.5, Tables 3.1/3.2).

The thesis passes reconstructions to "a simple classifier which consists of 2 layers of CNN
and a layer of MLP", trained on the raw training set (84 % on raw CIFAR-10), and reports

- *absolute* accuracy: the fraction of reconstructions classified as their true label;
- *relative* accuracy: the fraction classified as the classifier classifies the raw image.

:class:`ReconClassifier` is that network: two 3x3 convolutions (ReLU, 2x2 max-pool each)
and one linear layer, for any image size and channel count. It is trained here on the raw
training split (Adam; :class:`ClassifierSettings`), seeded with
``stage_seed(settings.seed, "recon_classifier/train")`` so it does not depend on the seed
of the model being evaluated (one fixed classifier per dataset, as in the thesis), and
cached under ``cache_root()/classifiers/``: the file name is a hash of everything that
changes the trained weights (dataset name, seed, version and sizes, a fingerprint of the
training images and labels, label name, image shape, classifier version, settings, device
type). A missing, unreadable or mismatching cache file is retrained and rewritten
atomically; weights load with ``weights_only=True``.

Defaults: channels (32, 64), input centred as x − 0.5, Adam lr 1e-3, batch 64, 5 epochs.
On digits-rgb (8000 train / 2000 test) that reaches ≈ 92 % on the raw test images in
≈ 20 s on 2 CPU cores.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.cache import cache_root
from ..data.dataset import ArrayDataset
from ..errors import FactorbenchError
from ..fileio import atomic_torch_save
from ..seeding import stage_seed
from .batches import map_batches

log = logging.getLogger(__name__)

#: bump whenever the architecture or the training loop changes (invalidates cached weights)
CLASSIFIER_VERSION = 1


@dataclass(frozen=True)
class ClassifierSettings:
    """How the fixed classifier is built and trained (all part of its cache key)."""

    channels: Tuple[int, int] = (32, 64)
    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0


#: what the ``recon_acc`` evaluator uses (its ``classifier_epochs`` parameter overrides epochs)
DEFAULT_SETTINGS = ClassifierSettings()


class ReconClassifier(nn.Module):
    """2 conv layers + 1 fully connected layer (thesis §3.2.2): conv3x3-ReLU-maxpool2, twice,
    then a linear layer to the class logits. Input: (N, C, H, W) floats in [0, 1]."""

    def __init__(self, image_shape: Sequence[int], n_classes: int, channels: Tuple[int, int] = (32, 64)):
        super().__init__()
        c, h, w = (int(s) for s in image_shape)
        if h < 4 or w < 4:
            raise FactorbenchError(f"the classifier needs images of at least 4x4 pixels, got {h}x{w}")
        self.image_shape = (c, h, w)
        self.n_classes = int(n_classes)
        self.conv1 = nn.Conv2d(c, channels[0], 3, padding=1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, padding=1)
        self.fc = nn.Linear(channels[1] * (h // 4) * (w // 4), self.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x - 0.5)), 2)  # centre [0, 1] pixels on 0
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


# -- pure functions ------------------------------------------------------------------------

@torch.no_grad()
def predict(classifier: nn.Module, images: torch.Tensor, batch_size: int = 256, device: str = "cpu") -> np.ndarray:
    """Predicted class (argmax of the logits) for every image; NaN/inf logits are an error."""
    classifier.eval()
    outs = map_batches(classifier, torch.as_tensor(images), batch_size, device)
    return torch.cat([o.argmax(dim=1).cpu() for o in outs]).numpy() if outs else np.zeros(0, np.int64)


def classifier_accuracies(classifier: nn.Module, raw_images: torch.Tensor, recon_images: torch.Tensor,
                          labels, batch_size: int = 256, device: str = "cpu") -> Dict[str, float]:
    """Tables 3.1/3.2's accuracies of ``classifier`` on reconstructions of ``raw_images``.

    Returns ``abs_acc`` (prediction on the reconstruction == true label), ``rel_acc``
    (prediction on the reconstruction == prediction on the raw image) and ``raw_acc`` (the
    classifier's own accuracy on the raw images), all fractions in [0, 1].
    """
    labels = np.asarray(labels)
    if not (len(raw_images) == len(recon_images) == len(labels)):
        raise ValueError(f"lengths differ: {len(raw_images)} raw, {len(recon_images)} reconstructions, "
                         f"{len(labels)} labels")
    if len(labels) == 0:
        raise ValueError("no images to classify")
    pred_raw = predict(classifier, raw_images, batch_size, device)
    pred_rec = predict(classifier, recon_images, batch_size, device)
    return {
        "abs_acc": float((pred_rec == labels).mean()),
        "rel_acc": float((pred_rec == pred_raw).mean()),
        "raw_acc": float((pred_raw == labels).mean()),
    }


def train_classifier(images: torch.Tensor, labels, n_classes: int, settings: ClassifierSettings = ClassifierSettings(),
                     device: str = "cpu") -> ReconClassifier:
    """Train a :class:`ReconClassifier` on (images, labels) with Adam and cross-entropy.

    Deterministic for a given device: the initial weights and the shuffling order come
    from ``stage_seed(settings.seed, "recon_classifier/...")`` and no global RNG is used.
    """
    images = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stage_seed(settings.seed, "recon_classifier/init"))
        model = ReconClassifier(images.shape[1:], n_classes, settings.channels)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    order_rng = torch.Generator().manual_seed(stage_seed(settings.seed, "recon_classifier/train"))
    for _ in range(settings.epochs):
        order = torch.randperm(len(images), generator=order_rng)
        for start in range(0, len(images), settings.batch_size):
            idx = order[start:start + settings.batch_size]
            loss = F.cross_entropy(model(images[idx].to(device)), y[idx].to(device))
            if not torch.isfinite(loss):
                raise FactorbenchError("the reconstruction classifier diverged (non-finite loss)")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


# -- the cache -----------------------------------------------------------------------------

def _fingerprint(*arrays: np.ndarray) -> str:
    h = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def classifier_cache_key(train: ArrayDataset, label: str, settings: ClassifierSettings, device: str) -> Dict[str, Any]:
    """Everything that changes the trained classifier (hashed into its cache file name)."""
    labels = train.labels(label)
    return {
        "dataset": train.name,
        "split": train.split,
        "n_train": len(train),
        "dataset_seed": train.info.get("seed"),
        "dataset_version": train.info.get("version"),
        "data_sha1": _fingerprint(train.arrays["image"], labels),
        "label": label,
        "image_shape": list(train.image_shape),
        "classifier_version": CLASSIFIER_VERSION,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()},
        "device_type": torch.device(device).type,
    }


def classifier_cache_path(key: Dict[str, Any]) -> Path:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_root() / "classifiers" / f"{key['dataset']}-{key['label']}-{digest}.pt"


def _load_cached(path: Path, key: Dict[str, Any]) -> Optional[Tuple[ReconClassifier, Dict[str, Any]]]:
    """The cached classifier at ``path``, or None if missing, unreadable or not for ``key``."""
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("key") != json.loads(json.dumps(key)):
            raise ValueError("cache key mismatch")
        meta = blob["meta"]
        model = ReconClassifier(key["image_shape"], meta["n_classes"], tuple(key["settings"]["channels"]))
        model.load_state_dict(blob["state_dict"])
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, AttributeError, EOFError,
            zipfile.BadZipFile, pickle.UnpicklingError) as err:
        log.warning("classifier cache %s is unusable (%s); retraining", path, err)
        return None
    return model.eval(), meta


def fixed_classifier(train: ArrayDataset, label: str, settings: ClassifierSettings = ClassifierSettings(),
                     device: str = "cpu") -> Tuple[ReconClassifier, Dict[str, Any]]:
    """The fixed classifier for ``label`` of ``train`` (a raw training split): loaded from the
    cache, or trained and cached. Returns (classifier on ``device``, meta) where meta holds
    ``n_classes``, ``cache`` (the file) and ``trained`` (whether it was trained just now)."""
    labels = train.labels(label)
    if labels.ndim != 1:
        raise FactorbenchError(f"label {label!r} is per-object; the classifier needs one label per image")
    key = classifier_cache_key(train, label, settings, device)
    path = classifier_cache_path(key)
    cached = _load_cached(path, key)
    if cached is not None:
        model, meta = cached
        return model.to(device), {**meta, "cache": str(path), "trained": False}
    if labels.min() < 0:
        raise FactorbenchError(f"label {label!r} of {train.name} has negative class ids; expected 0..K-1")
    if len(np.unique(labels)) < 2:
        raise FactorbenchError(f"label {label!r} of {train.name} has fewer than two classes; nothing to classify")
    n_classes = int(labels.max()) + 1
    model = train_classifier(train.images(), labels, n_classes, settings, device)
    meta = {"n_classes": n_classes}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save(path, {"key": key, "meta": meta, "state_dict": state})
    return model, {**meta, "cache": str(path), "trained": True}


# -- the evaluator -------------------------------------------------------------------------
