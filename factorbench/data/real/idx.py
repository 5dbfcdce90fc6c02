"""Read one idx file (LeCun's format of the MNIST files), plain or gzip-compressed (docs/protocols.md §2.2).

The format: two zero bytes, a type byte (0x08 = unsigned byte, the only type MNIST uses),
the number of dimensions d, then d big-endian uint32 sizes and the data in C order.
torchvision keeps both ``<name>`` and ``<name>.gz`` in its ``MNIST/raw`` folder; either is
read here, the uncompressed one first.

:func:`read_idx` checks the header against the file's length and, when it is given one,
the SHA-256 of the *uncompressed* bytes (the checksums the MNIST files are published with).
A file that fails any check is one :class:`~factorbench.errors.FactorbenchError` line
naming the file. With ``memoise=True`` (files that never change, such as the MNIST copy
shipped in the package) the decoded array is kept per process, keyed by the file's path,
size and modification time, so those files are decoded (and hashed) once per process.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import struct
import zlib
from pathlib import Path
from typing import Optional

import numpy as np

from ...errors import FactorbenchError

UBYTE = 0x08


def idx_file(folder: Path, name: str) -> Optional[Path]:
    """``folder/name`` if it is a file, else ``folder/name.gz``, else None."""
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
    return None


def read_idx(path: Path, sha256: Optional[str] = None, why_sha: str = "", memoise: bool = False,
             sha_if_length: Optional[int] = None) -> np.ndarray:
    """The uint8 array stored in idx file ``path`` (``.gz``: decompressed first).

    ``sha256``: the expected hex digest of the uncompressed content; a mismatch is an error
    whose message ends with ``why_sha`` (what to do about it). With ``sha_if_length`` the
    digest is only checked when the uncompressed content has that many bytes.
    """
    if not memoise:
        return _decode(str(path), sha256, why_sha, sha_if_length).copy()
    stat = Path(path).stat()
    return _memoised(str(path), stat.st_size, stat.st_mtime_ns, sha256, why_sha, sha_if_length).copy()


@functools.lru_cache(maxsize=8)
def _memoised(path: str, size: int, mtime_ns: int, sha256: Optional[str], why_sha: str,
              sha_if_length: Optional[int]) -> np.ndarray:
    return _decode(path, sha256, why_sha, sha_if_length)


def _decode(path: str, sha256: Optional[str], why_sha: str, sha_if_length: Optional[int] = None) -> np.ndarray:
    raw = Path(path).read_bytes()
    if path.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise FactorbenchError(f"{path}: not a valid MNIST idx file (broken gzip: {exc})") from None
    if sha256 is not None and (sha_if_length is None or len(raw) == sha_if_length):
        digest = hashlib.sha256(raw).hexdigest()
        if digest != sha256:
            raise FactorbenchError(f"{path}: corrupted: SHA-256 of its content is {digest[:16]}..., "
                                   f"expected {sha256[:16]}...; {why_sha}".rstrip("; "))
    return parse_idx(raw, path)


def parse_idx(raw: bytes, name: str = "idx file") -> np.ndarray:
    """Decode the bytes of an uncompressed idx file into a uint8 array of its shape."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise FactorbenchError(f"{name}: not a valid MNIST idx file (bad magic number)")
    if raw[2] != UBYTE:
        raise FactorbenchError(f"{name}: not a valid MNIST idx file (data type 0x{raw[2]:02x}, expected 0x08 ubyte)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise FactorbenchError(f"{name}: not a valid MNIST idx file (truncated header)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        raise FactorbenchError(f"{name}: not a valid MNIST idx file (header {'x'.join(map(str, shape))} needs "
                               f"{expected} bytes, the file has {len(raw)})")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
