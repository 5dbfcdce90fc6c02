"""FID and KID with an explicit protocol: the ``direct``, ``saved`` and ``clean`` modes (SPEC §4.1).

The thesis (§5.4.2, Tables 5.3/5.4) shows that *how* images reach the Inception changes FID
noticeably, so each mode is one documented pipeline, applied to both sides:

- ``direct``: nothing is rounded. Model output stays float in [0, 1]; dataset images are
  resized to the evaluation size in float; the resize to 299 is torch-fidelity's TF1-exact
  bilinear interpolation in float.
- ``saved``: images are written as PNG and read back. Float images (model output, or
  dataset images after the float resize to the evaluation size) are rounded to uint8
  (round half up, as ``torchvision.utils.save_image``) when written; the resize to 299 is
  PIL bilinear on the uint8 image and rounds again, as image-loading pipelines do.
  (Images that are already uint8 at the evaluation size would come back from a PNG
  round trip unchanged, so they skip the files.)
- ``clean``: clean-fid's protocol: float images (uint8 inputs converted exactly) resized
  to 299 per channel with PIL bicubic in float and clipped to [0, 255].

In every mode the resize to the evaluation size (when a side is not at it) is
antialiased bilinear in float. Features are the canonical Inception's 2048-d pool3
(:mod:`.inception`); statistics are float64 (:mod:`.frechet`); KID is torch-fidelity's
``kid_features_to_metric`` (polynomial kernel, 100 subsets of min(1000, N) images).
Reference statistics of datasets are cached on disk keyed by (dataset, split, seed,
evaluation size, mode, N, extractor SHA-1).
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch_fidelity.metric_kid import kid_features_to_metric
from tqdm.auto import tqdm

from ..data.cache import cache_root, read_npz, write_npz
from ..errors import FactorbenchError
from ..fileio import atomic_write_bytes
from ..versions import package_versions
from .frechet import feature_statistics, frechet_distance, psd_sqrt
from .image_sources import Images
from .inception import EXTRACTOR_NAME, INPUT_SIZE, WEIGHTS_SHA1, get_extractor

MODES = ("direct", "saved", "clean")
RESIZE_TO_EVAL = "bilinear with antialias, in float (torch.nn.functional.interpolate)"
RESIZE_TO_299 = {
    "direct": "TF1-exact bilinear in float (torch-fidelity interpolate_bilinear_2d_like_tensorflow1x)",
    "saved": "PIL bilinear on uint8, output rounded to uint8",
    "clean": "PIL bicubic per channel in float ('F' mode), clipped to [0, 255] (clean-fid)",
}


# ----------------------------------------------------------------------------- the modes
def to_float255(x: torch.Tensor) -> torch.Tensor:
    """uint8 -> float exactly; float in [0, 1] -> [0, 255]."""
    return x.float() if x.dtype == torch.uint8 else x.float() * 255.0


def to_uint8(x255: torch.Tensor) -> torch.Tensor:
    """Round half up and clamp, as torchvision's save_image does."""
    return (x255 + 0.5).floor().clamp(0, 255).to(torch.uint8)


def three_channels(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x.expand(-1, 3, -1, -1)
    if x.shape[1] != 3:
        raise FactorbenchError(f"images must have 1 or 3 channels, got {x.shape[1]}")
    return x


def resize_float(x255: torch.Tensor, size: int) -> torch.Tensor:
    if x255.shape[-1] == size and x255.shape[-2] == size:
        return x255
    return F.interpolate(x255, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def png_roundtrip(batch: torch.Tensor, folder: Path, first_index: int) -> torch.Tensor:
    """Write uint8 (B, 3, H, W) as PNG files and read them back."""
    out = []
    for i, img in enumerate(batch):
        path = folder / f"{first_index + i:06d}.png"
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(path)
        with Image.open(path) as back:
            out.append(torch.from_numpy(np.array(back.convert("RGB"))).permute(2, 0, 1))
    return torch.stack(out)


def pil_resize_uint8(batch: torch.Tensor, size: int) -> torch.Tensor:
    out = [torch.from_numpy(np.array(Image.fromarray(img.permute(1, 2, 0).numpy()).resize((size, size), Image.BILINEAR)))
           for img in batch]
    return torch.stack(out).permute(0, 3, 1, 2).contiguous()


def pil_bicubic_float(batch255: torch.Tensor, size: int) -> torch.Tensor:
    out = np.empty((batch255.shape[0], 3, size, size), dtype=np.float32)
    arr = batch255.numpy().astype(np.float32)
    for i in range(arr.shape[0]):
        for c in range(3):
            ch = Image.fromarray(arr[i, c], mode="F").resize((size, size), Image.BICUBIC)
            out[i, c] = np.asarray(ch)
    return torch.from_numpy(np.clip(out, 0, 255))


def prepare_batch(batch: torch.Tensor, mode: str, size: int, png_dir: Optional[Path], first_index: int) -> torch.Tensor:
    """One batch of a side's images -> the Inception input under ``mode`` (see module doc)."""
    batch = three_channels(batch)
    at_size = batch.shape[-1] == size and batch.shape[-2] == size
    if mode == "direct":
        return resize_float(to_float255(batch), size)
    if mode == "saved":
        if batch.dtype != torch.uint8 or not at_size:
            batch = png_roundtrip(to_uint8(resize_float(to_float255(batch), size)), png_dir, first_index)
        return pil_resize_uint8(batch, INPUT_SIZE) if size != INPUT_SIZE else batch
    if mode == "clean":
        x = resize_float(to_float255(batch), size)
        return pil_bicubic_float(x, INPUT_SIZE) if size != INPUT_SIZE else x
    raise FactorbenchError(f"unknown FID mode {mode!r}; modes: {', '.join(MODES)}")


def quantisation_steps(mode: str, images: Images, size: int) -> List[str]:
    """What rounds to uint8 on the way to the Inception, for one side."""
    steps = ["source is uint8"] if images.quantised else []
    if mode == "saved":
        if not images.quantised or images.size != size:
            steps.append(f"written as PNG at {size}x{size} (rounded to uint8) and read back")
        if size != INPUT_SIZE:
            steps.append("resize to 299 rounded to uint8")
    return steps


@torch.no_grad()
def extract_features(images: Images, mode: str, size: int, batch_size: int = 32, device: str = "cpu",
                     progress: bool = False, desc: str = "features") -> np.ndarray:
    """(N, 2048) float32 pool3 features of ``images`` under ``mode`` at evaluation ``size``."""
    if images.n < 2:
        raise FactorbenchError(f"FID needs at least 2 images per side, got {images.n} ({images.source.get('kind')})")
    extractor = get_extractor(device)
    feats = []
    with tempfile.TemporaryDirectory(prefix="factorbench-png-") as tmp:
        for start in tqdm(range(0, images.n, batch_size), desc=desc, disable=not progress, leave=False):
            x = prepare_batch(images.data[start:start + batch_size], mode, size, Path(tmp), start)
            (f,) = extractor(x.to(device))
            feats.append(f.cpu().numpy())
    return np.concatenate(feats).astype(np.float32)


# ----------------------------------------------------------------------------- statistics
@dataclass
class Stats:
    mu: np.ndarray
    sigma: np.ndarray
    n: int
    features: Optional[np.ndarray] = None
    cache: str = "off"  # off | hit | miss
    #: psd_sqrt(sigma), kept in the cache so a cache hit saves an eigendecomposition
    sigma_sqrt: Optional[np.ndarray] = None

    def root(self) -> np.ndarray:
        if self.sigma_sqrt is None:
            self.sigma_sqrt = psd_sqrt(self.sigma)
        return self.sigma_sqrt


def stats_cache_path(source: Dict[str, Any], mode: str, size: int, n: int) -> Path:
    name = f"{source['name']}-{source['split']}-seed{source['seed']}-s{size}-{mode}-n{n}-{WEIGHTS_SHA1[:12]}.npz"
    return cache_root() / "fid_stats" / name


def side_statistics(images: Images, mode: str, size: int, batch_size: int, device: str, use_cache: bool,
                    progress: bool = False, desc: str = "features") -> Stats:
    """Statistics (and features) of one side; datasets go through the on-disk cache."""
    cacheable = use_cache and images.source.get("kind") == "dataset"
    path = stats_cache_path(images.source, mode, size, images.n) if cacheable else None
    if path is not None:
        cached = read_npz(path)
        if cached is not None and {"mu", "sigma", "sigma_sqrt", "features"} <= set(cached):
            return Stats(cached["mu"], cached["sigma"], images.n, cached["features"], "hit", cached["sigma_sqrt"])
    feats = extract_features(images, mode, size, batch_size, device, progress, desc)
    mu, sigma = feature_statistics(feats)
    stats = Stats(mu, sigma, images.n, feats, cache="miss" if path is not None else "off")
    if path is not None:
        write_npz(path, {"mu": mu, "sigma": sigma, "sigma_sqrt": stats.root(), "features": feats}, compress=False)
    return stats


def load_stats_npz(path: Path) -> Stats:
    """Statistics from a ``.npz`` with ``mu`` and ``sigma`` (pytorch-fid / clean-fid format)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "mu" not in data.files or "sigma" not in data.files:
                raise FactorbenchError(f"{path}: a statistics file needs arrays 'mu' and 'sigma'; it has {data.files}")
            mu, sigma = data["mu"].astype(np.float64), data["sigma"].astype(np.float64)
            feats = data["features"] if "features" in data.files else None
            n = int(data["n"]) if "n" in data.files else (len(feats) if feats is not None else -1)
    except (OSError, ValueError) as exc:
        raise FactorbenchError(f"{path}: not a readable .npz statistics file ({exc})") from None
    if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
        raise FactorbenchError(f"{path}: mu must be (D,) and sigma (D, D); got {mu.shape} and {sigma.shape}")
    return Stats(mu, sigma, n, feats)


def save_stats_npz(path: Path, stats: Stats) -> Path:
    """Export ``mu``, ``sigma`` (and ``n``) as ``.npz``, readable by pytorch-fid and clean-fid."""
    buf = io.BytesIO()
    np.savez(buf, mu=stats.mu, sigma=stats.sigma, n=np.int64(stats.n))
    return atomic_write_bytes(Path(path), buf.getvalue())


# ----------------------------------------------------------------------------- results
def protocol(mode: str, size: int, fake: Any, real: Any, fake_stats: Stats, real_stats: Stats) -> Dict[str, Any]:
    def side(x, stats):
        if isinstance(x, Images):
            return {"source": x.source, "quantisation": quantisation_steps(mode, x, size), "stats_cache": stats.cache}
        return {"source": {"kind": "stats", "path": str(x)}, "quantisation": ["unknown (precomputed statistics)"]}

    fake_side, real_side = side(fake, fake_stats), side(real, real_stats)
    definition = (
        f"FID, {mode} mode: {fake_stats.n} fake / {real_stats.n} real images at {size}x{size}; resize to 299: "
        f"{RESIZE_TO_299[mode]}; rounding: fake {'; '.join(fake_side['quantisation']) or 'none'}, real "
        f"{'; '.join(real_side['quantisation']) or 'none'}; Inception TF-2015-12-05 pool3, sha1 {WEIGHTS_SHA1[:12]}"
    )
    return {
        "definition": definition,
        "mode": mode, "image_size": size, "n_fake": fake_stats.n, "n_real": real_stats.n,
        "resize_to_eval_size": RESIZE_TO_EVAL, "resize_to_299": RESIZE_TO_299[mode],
        "fake": fake_side, "real": real_side,
        "extractor": {"name": EXTRACTOR_NAME, "sha1": WEIGHTS_SHA1, "layer": "pool3 (2048)"},
        "statistics": "float64 mean and covariance (ddof=1); Fréchet distance via eigh + SVD (no sqrtm)",
        "versions": package_versions(),
    }


def _stats_of(side: Any, mode: str, size: int, batch_size: int, device: str, use_cache: bool, progress: bool,
              desc: str) -> Stats:
    if isinstance(side, Images):
        return side_statistics(side, mode, size, batch_size, device, use_cache, progress, desc)
    return load_stats_npz(Path(side))


def compute_fid(fake: Any, real: Any, mode: str, size: int, batch_size: int = 32, device: str = "cpu",
                use_cache: bool = True, progress: bool = False) -> Tuple[Dict[str, Any], Stats, Stats]:
    """FID of ``fake`` against ``real`` (each :class:`Images` or a path to a stats ``.npz``).

    Returns (result record with ``metric``, ``value``, ``protocol``; fake stats; real stats).
    """
    if mode not in MODES:
        raise FactorbenchError(f"unknown FID mode {mode!r}; modes: {', '.join(MODES)}")
    fs = _stats_of(fake, mode, size, batch_size, device, use_cache, progress, f"fake [{mode}]")
    rs = _stats_of(real, mode, size, batch_size, device, use_cache, progress, f"real [{mode}]")
    return fid_record(fake, real, mode, size, fs, rs), fs, rs


def fid_record(fake: Any, real: Any, mode: str, size: int, fs: Stats, rs: Stats) -> Dict[str, Any]:
    """The FID record of two sides whose statistics are already computed (one feature pass
    can then serve FID, KID and precision/recall: :mod:`factorbench.api.image_metrics`)."""
    value = frechet_distance(fs.mu, fs.sigma, rs.mu, rs.sigma, fs.root(), rs.root())
    return {"metric": f"fid_{mode}", "value": value, "protocol": protocol(mode, size, fake, real, fs, rs)}


def compute_kid(fake: Images, real: Images, mode: str, size: int, batch_size: int = 32, device: str = "cpu",
                use_cache: bool = True, progress: bool = False, seed: int = 0, subsets: int = 100) -> Dict[str, Any]:
    """KID (mean and std over subsets) with torch-fidelity's estimator; needs images, not stats."""
    if not (isinstance(fake, Images) and isinstance(real, Images)):
        raise FactorbenchError("KID needs images on both sides (a .npz of mu/sigma cannot give it)")
    fs = side_statistics(fake, mode, size, batch_size, device, use_cache, progress, f"fake [{mode}]")
    rs = side_statistics(real, mode, size, batch_size, device, use_cache, progress, f"real [{mode}]")
    return kid_record(fake, real, mode, size, fs, rs, seed, subsets)


def kid_record(fake: Images, real: Images, mode: str, size: int, fs: Stats, rs: Stats, seed: int = 0,
               subsets: int = 100) -> Dict[str, Any]:
    """The KID record of two sides whose features are already extracted (see :func:`fid_record`)."""
    subset = min(1000, fs.n, rs.n)
    out = kid_features_to_metric(torch.from_numpy(fs.features), torch.from_numpy(rs.features), kid_subsets=subsets,
                                 kid_subset_size=subset, verbose=False, rng_seed=seed)
    proto = protocol(mode, size, fake, real, fs, rs)
    proto.update({"kid_subsets": subsets, "kid_subset_size": subset, "kid_kernel": "polynomial, degree 3, coef0 1",
                  "seed": seed})
    return {"metric": f"kid_{mode}", "value": float(out["kernel_inception_distance_mean"]),
            "std": float(out["kernel_inception_distance_std"]), "protocol": proto}
