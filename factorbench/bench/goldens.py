"""Metric-level goldens: every metric on fixed inputs, against ``results/baselines/metrics.json``.

The model-level regression (:mod:`.regress`) re-trains tiny models, so its tolerances must
absorb seed noise and it cannot see a small error in a metric's code. These goldens feed
each metric fixed inputs, made here from fixed seeds with NumPy's legacy ``RandomState``
(whose streams NumPy keeps stable across versions), so a re-run computes the same numbers
up to float rounding and the tolerance can be tight:

    |now − golden| ≤ 1e-6 · |golden| + 1e-12        (on the platform that wrote the file)

The inputs (docs/protocols.md §4; thesis §5.4.2 for FID, eq. 3.4 for sharpness, §6.4.1 for AP):

- ``frechet``: the Fréchet distance of two fixed 8-d Gaussians (no Inception);
- ``fid``: two fixed folders of PNG images (5 "fake" at 16x16, 6 "real" at 24x24) at
  evaluation size 16, in each mode (direct, saved, clean): folder reading, resizing,
  rounding, the canonical Inception and the statistics;
- ``sharpness``: mean and std over images of the fake folder's images;
- ``detection``: AP under both protocols (spair, space) and the three count errors of a
  fixed predictions file (12 images; jittered true boxes, misses and false positives),
  written and read back through :mod:`~factorbench.metrics.detection_io`;
- ``probes``: the linear and MLP probes on fixed codes (3 overlapping Gaussian classes in
  4-d, 90 train / 45 test), train and test accuracy and the chance level.

They run on :data:`~factorbench.seeding.DETERMINISTIC_THREADS` torch threads. Another
platform (CPU, BLAS, library versions) may differ by more than 1e-6; regenerate the file
there with ``factorbench regress --bench metrics --update`` and compare on that platform.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
from PIL import Image

from ..errors import FactorbenchError
from ..seeding import fixed_threads
from ..versions import git_commit, package_versions

#: the pseudo-benchmark name of the goldens (``regress --bench metrics``, ``metrics.json``)
GOLDENS = "metrics"
REL_TOL = 1e-6
ABS_TOL = 1e-12
TOLERANCE_RULE = "tol = 1e-6 * |golden| + 1e-12 (fixed inputs, fixed torch threads)"
FID_MODES = ("direct", "saved", "clean")

Key = Tuple[str, str, str]  # (group, inputs, metric)


def golden_tolerance(value: float) -> float:
    return REL_TOL * abs(value) + ABS_TOL


# ---------------------------------------------------------------------------- fixed inputs
def fixed_images(seed: int, n: int, size: int) -> np.ndarray:
    """(n, size, size, 3) uint8: a per-image colour gradient, a bright square and noise."""
    rs = np.random.RandomState(seed)
    ramp = np.linspace(0.0, 1.0, size)
    out = np.empty((n, size, size, 3), np.float64)
    for i in range(n):
        colour = rs.uniform(0, 255, 3)
        gradient = ramp[None, :, None] * colour + ramp[:, None, None] * (255 - colour) / 2
        x0, y0 = rs.randint(0, size // 2, 2)
        gradient[y0:y0 + size // 3, x0:x0 + size // 3] = rs.uniform(128, 255, 3)
        out[i] = gradient + rs.normal(0, 20, (size, size, 3))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def write_folder(folder: Path, images: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    return folder


def fixed_detections(seed: int = 5, n_images: int = 12) -> Tuple[List[np.ndarray], List[np.ndarray], List[np.ndarray]]:
    """(true boxes, predicted boxes, scores) per image, pixel xyxy on a 64x64 canvas."""
    rs = np.random.RandomState(seed)
    gt, pred, scores = [], [], []
    for _ in range(n_images):
        k = rs.randint(0, 5)
        xy = rs.uniform(0, 44, (k, 2))
        wh = rs.uniform(6, 20, (k, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        found = boxes[rs.uniform(size=k) < 0.8]  # some objects are missed
        jittered = found + rs.normal(0, 2.0, found.shape)
        n_false = rs.randint(0, 3)
        fxy = rs.uniform(0, 50, (n_false, 2))
        false = np.concatenate([fxy, fxy + rs.uniform(4, 14, (n_false, 2))], axis=1)
        p = np.concatenate([jittered, false]).reshape(-1, 4)
        p = np.concatenate([np.minimum(p[:, :2], p[:, 2:]), np.maximum(p[:, :2], p[:, 2:])], axis=1)
        gt.append(boxes)
        pred.append(p)
        scores.append(np.concatenate([rs.uniform(0.4, 1.0, len(found)), rs.uniform(0.0, 0.7, n_false)]))
    return gt, pred, scores


def fixed_codes(seed: int = 7, n_train: int = 90, n_test: int = 45) -> Tuple[np.ndarray, ...]:
    """(z_train, y_train, z_test, y_test): three overlapping Gaussian classes in 4-d."""
    rs = np.random.RandomState(seed)
    centres = rs.normal(0, 1.2, (3, 4))

    def draw(n):
        y = np.arange(n) % 3
        return centres[y] + rs.normal(0, 1.0, (n, 4)), y

    z_train, y_train = draw(n_train)
    z_test, y_test = draw(n_test)
    return z_train, y_train, z_test, y_test


# ---------------------------------------------------------------------------- the goldens
def frechet_values() -> Dict[Key, float]:
    from ..metrics.frechet import frechet_distance

    rs = np.random.RandomState(3)
    a, b = rs.normal(size=(8, 8)), rs.normal(size=(8, 8))
    value = frechet_distance(rs.normal(size=8), a @ a.T / 8, rs.normal(size=8), b @ b.T / 8)
    return {("frechet", "gaussians 8-d", "frechet_distance"): value}


def fid_values(tmp: Path) -> Dict[Key, float]:
    from ..metrics import fid
    from ..metrics.image_sources import folder_images

    fake = folder_images(write_folder(tmp / "fake", fixed_images(1, 5, 16)))
    real = folder_images(write_folder(tmp / "real", fixed_images(2, 6, 24)))
    inputs = "folders 5@16px vs 6@24px, size 16"
    return {("fid", inputs, f"fid_{mode}"): fid.compute_fid(fake, real, mode, 16, use_cache=False)[0]["value"]
            for mode in FID_MODES}


def sharpness_values() -> Dict[Key, float]:
    from ..metrics.sharpness import sharpness, sharpness_summary

    images = fixed_images(1, 5, 16).transpose(0, 3, 1, 2).copy()
    mean, std = sharpness_summary(sharpness(images))
    return {("sharpness", "fake folder", "sharpness_mean"): mean, ("sharpness", "fake folder", "sharpness_std"): std}


def detection_values(tmp: Path) -> Dict[Key, float]:
    from ..metrics import detection
    from ..metrics.detection_io import read_predictions, write_predictions_json

    gt, pred, scores = fixed_detections()
    path = write_predictions_json(tmp / "predictions.json", pred, scores)
    back = read_predictions(path, len(gt))
    inputs = "predictions file, 12 images"
    out = {("detection", inputs, f"ap_{protocol}"): detection.average_precision(back.boxes, back.scores, gt,
                                                                               protocol).ap
           for protocol in ("spair", "space")}
    counts = [int((s > 0.5).sum()) for s in back.scores]
    for name, value in detection.count_errors(counts, [len(g) for g in gt]).items():
        out[("detection", inputs + ", score > 0.5", name)] = value
    return out


def probe_values() -> Dict[Key, float]:
    from ..metrics.probes import linear_probe, mlp_probe

    codes = fixed_codes()
    inputs = "codes 3 classes 4-d"
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MLP's ConvergenceWarning on 90 points
        for kind, fit in (("linear", linear_probe), ("mlp", mlp_probe)):
            result = fit(*codes, seed=0)
            out[("probes", inputs, f"probe_{kind}_train_acc")] = result.train_acc
            out[("probes", inputs, f"probe_{kind}_test_acc")] = result.test_acc
    out[("probes", inputs, "probe_chance")] = result.chance
    return out


def compute_goldens() -> Dict[Key, float]:
    """Every golden value, computed now on :data:`~factorbench.seeding.DETERMINISTIC_THREADS` threads."""
    with fixed_threads(), tempfile.TemporaryDirectory(prefix="factorbench-goldens-") as tmp:
        values = {**frechet_values(), **sharpness_values(), **detection_values(Path(tmp)), **probe_values()}
        values.update(fid_values(Path(tmp)))
    return values


# ---------------------------------------------------------------------------- baseline file
def make_goldens(values: Dict[Key, float]) -> Dict[str, Any]:
    return {"benchmark": GOLDENS, "tolerance_rule": TOLERANCE_RULE,
            "inputs": "fixed, generated in factorbench/bench/goldens.py",
            "values": [{"group": g, "inputs": i, "metric": m, "value": v} for (g, i, m), v in sorted(values.items())],
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "git_commit": git_commit(), "versions": package_versions()}
