"""FID and KID with an explicit protocol: the ``direct``, ``saved`` and ``clean`` modes (docs/protocols.md §4.1).

The thesis (§5.4.2, Tables 5.3/5.4) shows that *how* images reach the Inception changes FID
noticeably, so each mode is one documented pipeline, applied to both sides:

- ``direct``: nothing is rounded after decoding. Model output stays float in [0, 1]; images
  of datasets whose loader resizes (CUB, Cars, Dogs) are resized to the evaluation size in
  float from the decoded source pixels (the loader's filter, PIL bicubic, without its
  rounding), other images in float from what is stored; the resize to 299 is
  torch-fidelity's TF1-exact bilinear interpolation in float.
- ``saved``: images are written as PNG and read back. Float images (model output, or
  dataset images after the float resize to the evaluation size) are rounded to uint8
  (round half up, as ``torchvision.utils.save_image``) when written; the resize to 299 is
  PIL bilinear on the uint8 image and rounds again, as image-loading pipelines do.
  (Images that are already uint8 at the evaluation size would come back from a PNG
  round trip unchanged, so they skip the files.)
- ``clean``: clean-fid's protocol: float images (uint8 inputs converted exactly) resized
  to 299 per channel with PIL bicubic in float and clipped to [0, 255].

Otherwise the resize to the evaluation size (when a side is not at it) is antialiased
bilinear in float. Each side's protocol lists every rounding step it went through, from
the source files on (``quantisation``). Features are the canonical Inception's 2048-d pool3
(:mod:`.inception`); statistics are float64 (:mod:`.frechet`); KID is torch-fidelity's
``kid_features_to_metric`` (polynomial kernel, 100 subsets of min(1000, N) images).
Reference statistics of datasets are cached on disk keyed by (dataset, split, seed,
evaluation size, mode, N, extractor SHA-1).

Statistics files (``--save-stats``) hold ``mu``, ``sigma`` (what pytorch-fid and clean-fid
read) and ``n`` plus the protocol they were computed under as extra keys (:data:`STATS_KEYS`);
a file is used only under the protocol it states (mode, evaluation size, resize to 299,
extractor), unless the caller allows a mismatch, which the record then states. A file
without these keys (pytorch-fid's, clean-fid's) is accepted with its protocol "unknown".

Small samples: with N below the 2048 feature dimensions the covariance estimate is
rank-deficient and FID is biased upward; with KID subsets as large as a whole set every
subset is that set and the ± is no standard error. The protocol says both
(``warnings``), and the command line prints each warning once.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
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
from .frechet import checked_covariance_root, feature_statistics, frechet_distance
from .image_sources import Images
from .inception import EXTRACTOR_NAME, INPUT_SIZE, WEIGHTS_SHA1, get_extractor

MODES = ("direct", "saved", "clean")
FEATURE_DIM = 2048
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


def from_source_floats(mode: str, images: Images) -> bool:
    """Whether this side's direct-mode pixels come from the decoded source, not the stored uint8."""
    return mode == "direct" and images.float_pixels is not None


def quantisation_steps(mode: str, images: Images, size: int) -> List[str]:
    """What rounds to uint8 on the way to the Inception, for one side."""
    if from_source_floats(mode, images):
        return list(images.float_pixels.source_steps)
    steps = list(images.stored_steps or ["source is uint8"]) if images.quantised else []
    if mode == "saved":
        if not images.quantised or images.size != size:
            steps.append(f"written as PNG at {size}x{size} (rounded to uint8) and read back")
        if size != INPUT_SIZE:
            steps.append("resize to 299 rounded to uint8")
    return steps


def resize_to_eval_steps(mode: str, images: Images, size: int) -> str:
    """How one side reaches the evaluation size."""
    if from_source_floats(mode, images):
        return images.float_pixels.resize.format(size=size)
    return RESIZE_TO_EVAL if images.size != size else f"none (already {size}x{size})"


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
            stop = min(start + batch_size, images.n)
            if from_source_floats(mode, images):  # float from the decoded source, at ``size``: the direct input
                x = three_channels(torch.from_numpy(images.float_pixels.batch(start, stop, size)))
            else:
                x = prepare_batch(images.data[start:stop], mode, size, Path(tmp), start)
            (f,) = extractor(x.to(device))
            feats.append(f.cpu().numpy())
    return np.concatenate(feats).astype(np.float32)


# ----------------------------------------------------------------------------- statistics
@dataclass
class Stats:
    mu: np.ndarray
    sigma: np.ndarray
    #: the number of images; None where a statistics file does not say (unknown)
    n: Optional[int]
    features: Optional[np.ndarray] = None
    cache: str = "off"  # off | hit | miss
    #: psd_sqrt(sigma) when known (a statistics file's checked root); None: the Fréchet
    #: distance computes it only if its D x D route needs it
    sigma_sqrt: Optional[np.ndarray] = None
    #: the protocol the statistics were computed under (:func:`side_protocol`); None: unknown
    protocol: Optional[Dict[str, Any]] = None


def stats_cache_path(source: Dict[str, Any], mode: str, size: int, n: int, from_source: bool = False) -> Path:
    pixels = "-fromsource" if from_source else ""  # direct mode from the decoded source pixels
    name = f"{source['name']}-{source['split']}-seed{source['seed']}-s{size}-{mode}{pixels}-n{n}-{WEIGHTS_SHA1[:12]}.npz"
    return cache_root() / "fid_stats" / name


def side_statistics(images: Images, mode: str, size: int, batch_size: int, device: str, use_cache: bool,
                    progress: bool = False, desc: str = "features") -> Stats:
    """Statistics (and features) of one side; datasets go through the on-disk cache."""
    cacheable = use_cache and images.source.get("kind") == "dataset"
    path = stats_cache_path(images.source, mode, size, images.n, from_source_floats(mode, images)) if cacheable else None
    side = side_protocol(mode, size, images)
    if path is not None:
        cached = read_npz(path)
        if cached is not None and {"mu", "sigma", "features"} <= set(cached):
            return Stats(cached["mu"], cached["sigma"], images.n, cached["features"], "hit", cached.get("sigma_sqrt"), side)
    feats = extract_features(images, mode, size, batch_size, device, progress, desc)
    mu, sigma = feature_statistics(feats)
    stats = Stats(mu, sigma, images.n, feats, cache="miss" if path is not None else "off", protocol=side)
    if path is not None:
        # no square root stored: with the features, the Fréchet distance needs none (frechet.py)
        write_npz(path, {"mu": mu, "sigma": sigma, "features": feats}, compress=False)
    return stats


#: the protocol keys of a statistics file, beside ``mu``, ``sigma`` and ``n``; strings are
#: numpy unicode scalars (readable with allow_pickle=False), the lists/dicts JSON text
STATS_FORMAT = "factorbench-fid-stats-1"
STATS_KEYS = ("format", "mode", "image_size", "resize_to_eval_size", "resize_to_299", "extractor", "extractor_sha1",
              "quantisation", "source", "versions")
#: what must agree between a file's protocol and the requested one
MATCHED = ("mode", "image_size", "resize_to_299", "extractor_sha1")
JSON_KEYS = ("quantisation", "source", "versions")


def side_protocol(mode: str, size: int, images: Images) -> Dict[str, Any]:
    """The protocol of one side's statistics (what a statistics file stores)."""
    return {"mode": mode, "image_size": size, "resize_to_eval_size": resize_to_eval_steps(mode, images, size),
            "resize_to_299": RESIZE_TO_299[mode], "extractor": EXTRACTOR_NAME, "extractor_sha1": WEIGHTS_SHA1,
            "quantisation": quantisation_steps(mode, images, size), "source": images.source,
            "versions": package_versions()}


def _stats_n(data, path: Path) -> Optional[int]:
    if "n" not in data.files:
        return None
    n = data["n"]
    if n.ndim != 0 or n.dtype.kind not in "iuf" or not float(n).is_integer() or float(n) < 1:
        raise FactorbenchError(f"{path}: 'n' must be one positive integer (the number of images), got "
                               f"{'an array of shape ' + str(n.shape) if n.ndim else repr(n.item())}")
    return int(n)


def _stats_protocol(data, path: Path) -> Optional[Dict[str, Any]]:
    if "format" not in data.files:
        return None  # a plain mu/sigma file (pytorch-fid, clean-fid): protocol unknown
    try:
        proto = {k: data[k].item() for k in STATS_KEYS if k in data.files}
        for key in JSON_KEYS:
            if key in proto:
                proto[key] = json.loads(proto[key])
    except (ValueError, TypeError) as exc:
        raise FactorbenchError(f"{path}: unreadable protocol keys ({exc})") from None
    missing = [k for k in MATCHED if k not in proto]
    if missing:
        raise FactorbenchError(f"{path}: a {proto['format']} file needs the keys {', '.join(missing)}")
    return proto


def stats_file_protocol(path: Path) -> Optional[Dict[str, Any]]:
    """The protocol a statistics file states (None: none, or unreadable -- loading it says why)."""
    try:
        with open(path, "rb") as f:
            if f.read(2) != b"PK":
                return None
        with np.load(path, allow_pickle=False) as data:
            return _stats_protocol(data, Path(path))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, FactorbenchError):
        return None


def load_stats_npz(path: Path) -> Stats:
    """Statistics from a ``.npz`` with ``mu`` and ``sigma`` (pytorch-fid / clean-fid format,
    or ours with its protocol keys). Anything else -- not an npz, truncated, empty arrays,
    a ``sigma`` that is not a symmetric positive semi-definite matrix, an ``n`` that is not
    one integer -- is a one-line error naming the file and what was expected."""
    path = Path(path)
    expected = "a .npz statistics file with arrays 'mu' (D,) and 'sigma' (D, D)"
    try:
        if path.stat().st_size == 0:
            raise FactorbenchError(f"{path}: empty file, expected {expected}")
        with open(path, "rb") as f:
            magic = f.read(6)
        if magic == b"\x93NUMPY":
            raise FactorbenchError(f"{path}: a single .npy array, expected {expected}")
        if magic[:2] != b"PK":  # np.load would try it as a pickle
            raise FactorbenchError(f"{path}: not a .npz (zip) archive, expected {expected}")
        with np.load(path, allow_pickle=False) as data:
            if "mu" not in data.files or "sigma" not in data.files:
                raise FactorbenchError(f"{path}: expected {expected}; it has {data.files}")
            mu, sigma = data["mu"].astype(np.float64), data["sigma"].astype(np.float64)
            feats = data["features"] if "features" in data.files else None
            n = _stats_n(data, path)
            proto = _stats_protocol(data, path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise FactorbenchError(f"{path}: not a readable .npz statistics file ({type(exc).__name__}: {exc}); "
                               f"expected {expected}") from None
    if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
        raise FactorbenchError(f"{path}: mu must be (D,) and sigma (D, D); got {mu.shape} and {sigma.shape}")
    if mu.size == 0:
        raise FactorbenchError(f"{path}: mu and sigma are empty; expected {expected}")
    if not np.isfinite(mu).all():
        raise FactorbenchError(f"{path}: mu contains NaN or inf")
    if n is None and feats is not None:
        n = len(feats)
    root = checked_covariance_root(sigma, str(path))
    return Stats(mu, sigma, n, feats, sigma_sqrt=root, protocol=proto)


def save_stats_npz(path: Path, stats: Stats) -> Path:
    """Export ``mu``, ``sigma`` (and ``n``, where known) as ``.npz``, readable by pytorch-fid
    and clean-fid, with the protocol of ``stats`` as the extra keys :data:`STATS_KEYS`."""
    arrays: Dict[str, Any] = {"mu": stats.mu, "sigma": stats.sigma}
    if stats.n is not None:
        arrays["n"] = np.int64(stats.n)
    if stats.protocol is not None:
        arrays["format"] = np.str_(STATS_FORMAT)
        for key in STATS_KEYS[1:]:
            if key in stats.protocol:
                value = stats.protocol[key]
                arrays[key] = (np.str_(json.dumps(value, default=str)) if key in JSON_KEYS
                               else np.int64(value) if isinstance(value, int) else np.str_(value))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(Path(path), buf.getvalue())


def protocol_mismatches(stored: Optional[Dict[str, Any]], mode: str, size: int) -> List[str]:
    """How a statistics file's protocol differs from the requested one ([] if it does not, or is unknown)."""
    if stored is None:
        return []
    wanted = {"mode": mode, "image_size": size, "resize_to_299": RESIZE_TO_299[mode], "extractor_sha1": WEIGHTS_SHA1}
    return [f"{key} {stored.get(key)!r} (requested {wanted[key]!r})" for key in MATCHED if stored.get(key) != wanted[key]]


def check_stats_protocol(stats: Stats, path: Path, mode: str, size: int, allow_mismatch: bool) -> List[str]:
    """Refuse (one line) a statistics file computed under another protocol, unless allowed;
    returns the mismatches (recorded in the result when allowed)."""
    found = protocol_mismatches(stats.protocol, mode, size)
    if found and not allow_mismatch:
        raise FactorbenchError(f"{path}: statistics computed under another protocol: {'; '.join(found)}. Compute them "
                               "under the requested one, or pass --allow-protocol-mismatch (allow_protocol_mismatch="
                               "True) to use them anyway")
    return found


# ----------------------------------------------------------------------------- results
def _count(n: Optional[int]) -> str:
    return "unknown" if n is None else str(n)


def small_sample_warnings(fake_stats: Stats, real_stats: Stats) -> Tuple[Dict[str, Any], List[str]]:
    """Whether each side has fewer images than feature dimensions, and the warning if so."""
    dim = int(fake_stats.mu.size)
    below = {side: (None if st.n is None else st.n < dim) for side, st in (("fake", fake_stats), ("real", real_stats))}
    warnings = []
    if any(below.values()):
        counts = " / ".join(f"{_count(st.n)} {side}" for side, st in (("fake", fake_stats), ("real", real_stats)))
        warnings.append(f"FID on {counts} images, fewer than the {dim} feature dimensions: the covariance is "
                        "rank-deficient and FID is strongly biased upward; compare only values computed with the same N")
    return {"feature_dim": dim, **below}, warnings


def protocol(mode: str, size: int, fake: Any, real: Any, fake_stats: Stats, real_stats: Stats,
             mismatches: Optional[Dict[str, List[str]]] = None) -> Dict[str, Any]:
    mismatches = mismatches or {}

    def side(name, x, stats):
        if isinstance(x, Images):
            return {"source": x.source, "quantisation": quantisation_steps(mode, x, size),
                    "resize_to_eval_size": resize_to_eval_steps(mode, x, size), "stats_cache": stats.cache}
        stored = stats.protocol
        out = {"source": {"kind": "stats", "path": str(x)},
               "stats_protocol": stored if stored is not None else "unknown",
               "quantisation": (stored or {}).get("quantisation", ["unknown (precomputed statistics without a protocol)"]),
               "resize_to_eval_size": (stored or {}).get("resize_to_eval_size", "unknown")}
        if mismatches.get(name):
            out["protocol_mismatch"] = mismatches[name]
        return out

    fake_side, real_side = side("fake", fake, fake_stats), side("real", real, real_stats)
    below, warnings = small_sample_warnings(fake_stats, real_stats)
    mismatch_note = "".join(f"; {name} statistics file under another protocol, used anyway: {'; '.join(found)}"
                            for name, found in mismatches.items() if found)
    definition = (
        f"FID, {mode} mode: {_count(fake_stats.n)} fake / {_count(real_stats.n)} real images at {size}x{size}; "
        f"resize to 299: {RESIZE_TO_299[mode]}; rounding: fake {'; '.join(fake_side['quantisation']) or 'none'}, real "
        f"{'; '.join(real_side['quantisation']) or 'none'}; Inception TF-2015-12-05 pool3, sha1 {WEIGHTS_SHA1[:12]}"
        f"{mismatch_note}"
    )
    return {
        "definition": definition,
        "mode": mode, "image_size": size, "n_fake": fake_stats.n, "n_real": real_stats.n,
        "resize_to_eval_size": RESIZE_TO_EVAL, "resize_to_299": RESIZE_TO_299[mode],
        "fake": fake_side, "real": real_side,
        "extractor": {"name": EXTRACTOR_NAME, "sha1": WEIGHTS_SHA1, "layer": "pool3 (2048)"},
        "statistics": "float64 mean and covariance (ddof=1); Fréchet distance exact without sqrtm: from the n x n feature products when a side has fewer images than 2048, else eigh + SVD",
        "below_feature_dim": below,
        "warnings": warnings,
        "versions": package_versions(),
    }


def compute_fid(fake: Any, real: Any, mode: str, size: int, batch_size: int = 32, device: str = "cpu",
                use_cache: bool = True, progress: bool = False,
                allow_protocol_mismatch: bool = False) -> Tuple[Dict[str, Any], Stats, Stats]:
    """FID of ``fake`` against ``real`` (each :class:`Images` or a path to a stats ``.npz``).

    A statistics file whose stored protocol differs from (``mode``, ``size``, resize to 299,
    extractor) is refused unless ``allow_protocol_mismatch``; the record then lists the
    differences (``protocol.<side>.protocol_mismatch`` and the definition).
    Returns (result record with ``metric``, ``value``, ``protocol``; fake stats; real stats).
    """
    if mode not in MODES:
        raise FactorbenchError(f"unknown FID mode {mode!r}; modes: {', '.join(MODES)}")
    sides = {"fake": fake, "real": real}
    stats, mismatches = {}, {}
    for name, x in sides.items():  # statistics files first: a refused one costs no Inception pass
        if not isinstance(x, Images):
            stats[name] = load_stats_npz(Path(x))
            mismatches[name] = check_stats_protocol(stats[name], Path(x), mode, size, allow_protocol_mismatch)
    for name, x in sides.items():
        if isinstance(x, Images):
            stats[name] = side_statistics(x, mode, size, batch_size, device, use_cache, progress, f"{name} [{mode}]")
    fs, rs = stats["fake"], stats["real"]
    return fid_record(fake, real, mode, size, fs, rs, mismatches), fs, rs


def fid_record(fake: Any, real: Any, mode: str, size: int, fs: Stats, rs: Stats,
               mismatches: Optional[Dict[str, List[str]]] = None) -> Dict[str, Any]:
    """The FID record of two sides whose statistics are already computed (one feature pass
    can then serve FID, KID and precision/recall: :mod:`factorbench.api.image_metrics`)."""
    value = frechet_distance(fs.mu, fs.sigma, rs.mu, rs.sigma, fs.sigma_sqrt, rs.sigma_sqrt, fs.features, rs.features)
    return {"metric": f"fid_{mode}", "value": value, "protocol": protocol(mode, size, fake, real, fs, rs, mismatches)}


def kid_subset_size(n_fake: int, n_real: int, largest: int = 1000) -> int:
    """torch-fidelity's default subset size: min(1000, N_fake, N_real)."""
    return min(largest, n_fake, n_real)


def compute_kid(fake: Images, real: Images, mode: str, size: int, batch_size: int = 32, device: str = "cpu",
                use_cache: bool = True, progress: bool = False, seed: int = 0, subsets: int = 100) -> Dict[str, Any]:
    """KID (mean and std over subsets) with torch-fidelity's estimator; needs images, not stats.

    Subsets hold min(1000, N_fake, N_real) images drawn without replacement; where that is a
    whole side, every subset of that side is the same set, so the std measures only the other
    side's resampling (0 when both sides are whole): the protocol says so and warns."""
    if not (isinstance(fake, Images) and isinstance(real, Images)):
        raise FactorbenchError("KID needs images on both sides (a .npz of mu/sigma cannot give it)")
    fs = side_statistics(fake, mode, size, batch_size, device, use_cache, progress, f"fake [{mode}]")
    rs = side_statistics(real, mode, size, batch_size, device, use_cache, progress, f"real [{mode}]")
    return kid_record(fake, real, mode, size, fs, rs, seed, subsets)


def kid_record(fake: Images, real: Images, mode: str, size: int, fs: Stats, rs: Stats, seed: int = 0,
               subsets: int = 100) -> Dict[str, Any]:
    """The KID record of two sides whose features are already extracted (see :func:`fid_record`)."""
    subset = kid_subset_size(fs.n, rs.n)
    out = kid_features_to_metric(torch.from_numpy(fs.features), torch.from_numpy(rs.features), kid_subsets=subsets,
                                 kid_subset_size=subset, verbose=False, rng_seed=seed)
    proto = protocol(mode, size, fake, real, fs, rs)
    whole = {"fake": subset == fs.n, "real": subset == rs.n}
    proto["warnings"] = []  # FID's covariance warning does not concern KID (an unbiased kernel estimate)
    if any(whole.values()):
        sides = " and ".join(side for side, is_whole in whole.items() if is_whole)
        proto["warnings"].append(
            f"KID subsets of {subset} images are the whole {sides} set: every subset repeats it, so the ± is "
            + ("0 (up to float rounding) by construction, not an uncertainty" if all(whole.values()) else
               "only the other side's resampling spread, not a standard error"))
    proto.update({"kid_subsets": subsets, "kid_subset_size": subset, "kid_subset_is_whole_set": whole,
                  "kid_kernel": "polynomial, degree 3, coef0 1", "seed": seed})
    return {"metric": f"kid_{mode}", "value": float(out["kernel_inception_distance_mean"]),
            "std": float(out["kernel_inception_distance_std"]), "protocol": proto}
