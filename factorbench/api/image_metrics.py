"""``fb.fid``, ``fb.kid``, ``fb.precision_recall`` and ``fb.image_metrics`` (docs/protocols.md §4.1, thesis §5.4.2).

Each side (``fake``, ``real``) is anything :mod:`.inputs` accepts: an image folder, a tensor
or array, batches, a ``generate(n)`` callable, a dataset ``NAME[:SPLIT]``, a checkpoint
folder, or a ``.npz`` of statistics (FID only). The work is :mod:`factorbench.metrics.fid`'s:
the same modes (``direct``, ``saved``, ``clean``), statistics cache and protocol records as
``factorbench run fid``. :func:`image_metrics` extracts each side's Inception features
once and computes FID, KID and precision/recall from them.
"""

from __future__ import annotations

from typing import Any, Optional

from ..errors import FactorbenchError
from .inputs import eval_size, resolve_pair
from .results import Result, Results

BOTH = ("saved", "direct")


def _prepare(fake: Any, real: Any, size: Optional[int], n: Optional[int], batch_size: int, device: Optional[str],
             seed: int, sampling: str):
    from ..device import resolve_device

    dev = resolve_device(device)
    f, r = resolve_pair(fake, real, n, batch_size=batch_size, seed=seed, device=dev, sampling=sampling)
    return f, r, eval_size(size, f, r), dev


def _statistics(side: Any, mode: str, size: int, batch_size: int, device: str, use_cache: bool, progress: bool,
                what: str, need_features: bool):
    """One feature pass over a side (or its statistics file)."""
    from pathlib import Path

    from ..metrics.fid import check_stats_protocol, load_stats_npz, side_statistics
    from ..metrics.image_sources import Images

    if isinstance(side, Images):
        return side_statistics(side, mode, size, batch_size, device, use_cache, progress, f"{what} [{mode}]")
    if need_features:
        raise FactorbenchError(f"KID and precision/recall need images on both sides; {what} is a statistics file")
    stats = load_stats_npz(Path(side))
    check_stats_protocol(stats, Path(side), mode, size, False)  # a file made under another protocol: one line
    return stats


def image_metrics(fake: Any, real: Any, fid: bool = True, kid: bool = True, prc: bool = True, mode: str = "saved",
                  size: Optional[int] = None, n: Optional[int] = None, batch_size: int = 32,
                  device: Optional[str] = None, seed: int = 0, kid_subsets: int = 100, prc_k: int = 3,
                  sampling: str = "random", use_cache: bool = True, progress: bool = False) -> Results:
    """FID, KID and improved precision/recall of ``fake`` against ``real`` from **one**
    Inception feature pass per side (module doc). Returns :class:`Results` with keys
    ``fid``, ``kid``, ``precision``, ``recall`` (those asked for); ``mode`` is one of
    ``direct``, ``saved``, ``clean``. ``seed`` seeds the sampling of a checkpoint side and
    KID's random subsets; ``prc_k`` is the neighbourhood size (torch-fidelity's default 3).

    >>> r = fb.image_metrics("my_samples/", "shapes-fb:test", n=500)   # doctest: +SKIP
    >>> r.fid.value, r.kid.value, r.precision.value, r.recall.value    # doctest: +SKIP
    """
    from ..metrics.fid import MODES, fid_record, kid_record, protocol
    from ..metrics.precision_recall import DEFINITION, precision_recall as prc_of

    if mode not in MODES:
        raise FactorbenchError(f"unknown FID mode {mode!r}; modes: {', '.join(MODES)} (image_metrics takes one)")
    if not (fid or kid or prc):
        raise FactorbenchError("image_metrics: ask for at least one of fid, kid, prc")
    f, r, s, dev = _prepare(fake, real, size, n, batch_size, device, seed, sampling)
    need = kid or prc
    fs = _statistics(f, mode, s, batch_size, dev, use_cache, progress, "fake", need)
    rs = _statistics(r, mode, s, batch_size, dev, use_cache, progress, "real", need)
    out = Results()
    if fid:
        out["fid"] = _result(fid_record(f, r, mode, s, fs, rs))
    if kid:
        out["kid"] = _result(kid_record(f, r, mode, s, fs, rs, seed, kid_subsets))
    if prc:
        values = prc_of(fs.features, rs.features, prc_k)
        proto = protocol(mode, s, f, r, fs, rs)
        proto.update(definition=f"{DEFINITION}, k={prc_k}; {proto['definition']}", prc_k=prc_k,
                     f_score=values["f_score"])
        out["precision"] = Result(f"precision_{mode}", values["precision"], proto)
        out["recall"] = Result(f"recall_{mode}", values["recall"], proto)
    return out


def _result(record: dict) -> Result:
    return Result(record["metric"], record["value"], record["protocol"], record.get("std"))


def fid(fake: Any, real: Any, mode: str = "saved", size: Optional[int] = None, n: Optional[int] = None,
        batch_size: int = 32, device: Optional[str] = None, seed: int = 0, sampling: str = "random",
        use_cache: bool = True, progress: bool = False):
    """FID of ``fake`` against ``real`` under ``mode`` (``direct``, ``saved``, ``clean``;
    docs/protocols.md §4.1): a :class:`Result` with ``.value``, ``.protocol`` and ``.to_record()``.
    ``mode="both"`` gives the thesis's pair (§5.4.2) as :class:`Results` keyed ``saved``
    and ``direct``. ``size`` defaults to the images' size when both sides agree; ``n``
    caps the images per side; ``seed`` seeds a checkpoint's sampling.

    >>> fb.fid("my_samples/", "shapes-fb:test", n=500).value   # doctest: +SKIP
    """
    if mode != "both":
        return image_metrics(fake, real, True, False, False, mode, size, n, batch_size, device, seed,
                             sampling=sampling, use_cache=use_cache, progress=progress)["fid"]
    from ..metrics.fid import fid_record

    f, r, s, dev = _prepare(fake, real, size, n, batch_size, device, seed, sampling)
    out = Results()
    for m in BOTH:
        fs = _statistics(f, m, s, batch_size, dev, use_cache, progress, "fake", False)
        rs = _statistics(r, m, s, batch_size, dev, use_cache, progress, "real", False)
        out[m] = _result(fid_record(f, r, m, s, fs, rs))
    return out


def kid(fake: Any, real: Any, mode: str = "saved", size: Optional[int] = None, n: Optional[int] = None,
        subsets: int = 100, batch_size: int = 32, device: Optional[str] = None, seed: int = 0,
        sampling: str = "random", use_cache: bool = True, progress: bool = False) -> Result:
    """KID of ``fake`` against ``real`` (torch-fidelity's estimator, polynomial kernel,
    ``subsets`` random subsets of min(1000, N) images): a :class:`Result` whose ``std`` is
    the spread over subsets. ``seed`` seeds the subsets (and a checkpoint's sampling)."""
    return image_metrics(fake, real, False, True, False, mode, size, n, batch_size, device, seed, subsets,
                         sampling=sampling, use_cache=use_cache, progress=progress)["kid"]


def precision_recall(fake: Any, real: Any, mode: str = "saved", k: int = 3, size: Optional[int] = None,
                     n: Optional[int] = None, batch_size: int = 32, device: Optional[str] = None, seed: int = 0,
                     sampling: str = "random", use_cache: bool = True, progress: bool = False) -> Results:
    """Improved precision and recall (Kynkäänniemi et al. 2019; torch-fidelity's ``prc``)
    on the Inception features, with ``k``-nearest-neighbour radii: :class:`Results` keyed
    ``precision`` and ``recall`` (their F-score is in the protocol)."""
    return image_metrics(fake, real, False, False, True, mode, size, n, batch_size, device, seed, prc_k=k,
                         sampling=sampling, use_cache=use_cache, progress=progress)
