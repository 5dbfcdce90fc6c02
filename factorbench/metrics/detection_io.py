"""Predicted boxes from files, so any detector can be scored (docs/protocols.md §3 "External models",
§4.4; thesis §6.4.1).

Two formats, both in pixel xyxy coordinates of the evaluated split's images (x1/y1
exclusive, as the datasets' ``boxes``), one confidence per box (higher = more confident).
``index`` is the image's index in the dataset split (0 .. n_images-1). An image that the
file does not mention has no predictions. Every box a file lists is a prediction: for count
errors, the predicted count of an image is its number of boxes, so write only the boxes
your model counts (e.g. z_pres > 0.5) if you want count errors, and all candidates if you
want AP over every candidate (the benchmarks' default, ``candidates = "all"``). Scores are
read as float64 and stay so through scoring (no two distinct scores become a tie); equal
scores form one point of the precision/recall curve
(:mod:`~factorbench.metrics.detection`).

JSON (``.json``; :func:`write_predictions_json` writes it)::

    {"format": "factorbench-box-predictions", "version": 1,
     "images": [{"index": 0, "boxes": [[x0, y0, x1, y1], ...], "scores": [s, ...]}, ...]}

Only ``images`` is required; each entry needs ``index``, ``boxes`` and ``scores`` (equal
lengths), and an index may appear once.

CSV (``.csv``): a header row naming at least ``index,x0,y0,x1,y1,score`` (any order; other
columns are ignored), then one row per box; several rows may share an index::

    index,x0,y0,x1,y1,score
    0,3.0,4.5,20.0,22.0,0.93

Anything wrong (missing file, unparseable file, missing field or column, a non-number,
NaN/inf, a box with x1 < x0 or y1 < y0, an index outside 0..n_images-1) is one
:class:`~factorbench.errors.FactorbenchError` line that names the file and the place.
Boxes with zero width or height are accepted (they have IoU 0 with everything).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Sequence

import numpy as np

from ..errors import FactorbenchError
from ..fileio import atomic_write_text

#: the "format" value written into (and accepted from) prediction JSON files
JSON_FORMAT = "factorbench-box-predictions"
JSON_VERSION = 1
#: the columns a prediction CSV must have
CSV_COLUMNS = ("index", "x0", "y0", "x1", "y1", "score")


class BoxPredictions(NamedTuple):
    """Per-image predictions of a split: ``boxes[i]`` (K_i, 4) float64 pixel xyxy and
    ``scores[i]`` (K_i,) float64, for i in 0..n_images-1 (the input of
    :func:`~factorbench.metrics.detection.average_precision`)."""

    boxes: List[np.ndarray]
    scores: List[np.ndarray]


def _check_n_images(n_images: int) -> int:
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)) or n_images < 1:
        raise FactorbenchError(f"n_images must be a positive integer, got {n_images!r}")
    return int(n_images)


def _check_index(index: Any, n_images: int, where: str) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise FactorbenchError(f"{where}: index {index!r} is not an integer")
    if not 0 <= index < n_images:
        raise FactorbenchError(f"{where}: index {index} is out of range for {n_images} images (0..{n_images - 1})")
    return int(index)


def _check_box(box: Sequence[float], score: float, where: str) -> None:
    if not all(math.isfinite(v) for v in (*box, score)):
        raise FactorbenchError(f"{where}: box {list(box)} with score {score} has a NaN or inf value")
    x0, y0, x1, y1 = box
    if x1 < x0 or y1 < y0:
        raise FactorbenchError(f"{where}: box {list(box)} has x1 < x0 or y1 < y0 (boxes are x0, y0, x1, y1)")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _collect(rows: Dict[int, List[List[float]]], n_images: int) -> BoxPredictions:
    boxes, scores = [], []
    for i in range(n_images):
        r = np.asarray(rows.get(i, []), dtype=np.float64).reshape(-1, 5)
        boxes.append(r[:, :4].copy())
        scores.append(r[:, 4].copy())
    return BoxPredictions(boxes, scores)


def _open_text(path: Path) -> str:
    if not path.is_file():
        raise FactorbenchError(f"predictions file {path} does not exist")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FactorbenchError(f"predictions file {path} is not UTF-8 text") from None


def read_predictions_json(path, n_images: int) -> BoxPredictions:
    """Predictions from a JSON file in the format of the module docstring (docs/protocols.md §3 External
    models), for a split of ``n_images`` images."""
    path, n_images = Path(path), _check_n_images(n_images)
    text = _open_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise FactorbenchError(f"{path} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise FactorbenchError(f"{path}: expected an object with an 'images' list, "
                               '{"images": [{"index": 0, "boxes": [[x0, y0, x1, y1]], "scores": [s]}]}')
    if "format" in doc and doc["format"] != JSON_FORMAT:
        raise FactorbenchError(f"{path}: 'format' is {doc['format']!r}, expected {JSON_FORMAT!r}")
    rows: Dict[int, List[List[float]]] = {}
    for j, entry in enumerate(doc["images"]):
        where = f"{path}: images[{j}]"
        if not isinstance(entry, dict):
            raise FactorbenchError(f"{where} is not an object with 'index', 'boxes' and 'scores'")
        missing = [k for k in ("index", "boxes", "scores") if k not in entry]
        if missing:
            raise FactorbenchError(f"{where} is missing {', '.join(repr(k) for k in missing)}")
        index = _check_index(entry["index"], n_images, where)
        if index in rows:
            raise FactorbenchError(f"{where}: index {index} appears more than once")
        boxes, scores = entry["boxes"], entry["scores"]
        if not isinstance(boxes, list) or not isinstance(scores, list) or len(boxes) != len(scores):
            raise FactorbenchError(f"{where}: 'boxes' and 'scores' must be lists of the same length")
        image_rows = []
        for k, (box, score) in enumerate(zip(boxes, scores)):
            box_ok = isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)
            if not (box_ok and _is_number(score)):
                raise FactorbenchError(f"{where}: box {k} must be 4 numbers [x0, y0, x1, y1] with a numeric score, "
                                       f"got {box!r} and {score!r}")
            _check_box(box, score, f"{where} box {k}")
            image_rows.append([*map(float, box), float(score)])
        rows[index] = image_rows
    return _collect(rows, n_images)


def read_predictions_csv(path, n_images: int) -> BoxPredictions:
    """Predictions from a CSV file with header ``index,x0,y0,x1,y1,score`` (one row per box;
    module docstring; docs/protocols.md §3 External models), for a split of ``n_images`` images."""
    path, n_images = Path(path), _check_n_images(n_images)
    lines = _open_text(path).splitlines()
    try:
        reader = csv.DictReader(lines, skipinitialspace=True)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if not header:
            raise FactorbenchError(f"{path} is empty; expected a header {','.join(CSV_COLUMNS)}")
        missing = [c for c in CSV_COLUMNS if c not in header]
        if missing:
            raise FactorbenchError(f"{path}: missing column(s) {', '.join(missing)}; expected a header "
                                   f"{','.join(CSV_COLUMNS)}, got {','.join(header)}")
        reader.fieldnames = header
        rows: Dict[int, List[List[float]]] = {}
        for record in reader:
            where = f"{path} line {reader.line_num}"
            if None in record:
                raise FactorbenchError(f"{where}: more values than columns")
            values = {}
            for c in CSV_COLUMNS:
                raw = record.get(c)
                if raw is None or raw.strip() == "":
                    raise FactorbenchError(f"{where}: missing value for column '{c}'")
                raw = raw.strip()
                if c == "index":
                    try:
                        values[c] = int(raw)
                    except ValueError:
                        raise FactorbenchError(f"{where}: index {raw!r} is not an integer") from None
                else:
                    try:
                        values[c] = float(raw)
                    except ValueError:
                        raise FactorbenchError(f"{where}: {raw!r} in column '{c}' is not a number") from None
            index = _check_index(values["index"], n_images, where)
            box = [values["x0"], values["y0"], values["x1"], values["y1"]]
            _check_box(box, values["score"], where)
            rows.setdefault(index, []).append([*box, values["score"]])
    except csv.Error as e:
        raise FactorbenchError(f"{path} is not valid CSV: {e}") from None
    return _collect(rows, n_images)


def read_predictions(path, n_images: int) -> BoxPredictions:
    """Predictions from a ``.json`` or ``.csv`` file (chosen by suffix; module docstring;
    docs/protocols.md §3 External models), for a split of ``n_images`` images."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return read_predictions_json(path, n_images)
    if suffix == ".csv":
        return read_predictions_csv(path, n_images)
    raise FactorbenchError(f"predictions file {path} must end in .json or .csv")


def write_predictions_json(path, boxes: Sequence[Any], scores: Sequence[Any]) -> Path:
    """Write per-image predictions (``boxes[i]`` (K_i, 4) pixel xyxy, ``scores[i]`` (K_i,),
    image i of the split) atomically in the JSON format of the module docstring, every image
    listed (empty ones too), so factorbench's own models export what external ones import
    (docs/protocols.md §3). Returns the path."""
    if len(boxes) != len(scores):
        raise FactorbenchError(f"{len(boxes)} box sets but {len(scores)} score sets")
    images = []
    for i, (b, s) in enumerate(zip(boxes, scores)):
        b = np.asarray(b.detach().cpu() if hasattr(b, "detach") else b, dtype=np.float64)
        s = np.asarray(s.detach().cpu() if hasattr(s, "detach") else s, dtype=np.float64).reshape(-1)
        b = b.reshape(0, 4) if b.size == 0 else b
        if b.ndim != 2 or b.shape[1] != 4 or len(b) != len(s):
            raise FactorbenchError(f"image {i}: boxes {b.shape} and scores {s.shape} must be (K, 4) and (K,)")
        for k in range(len(b)):
            _check_box(b[k].tolist(), float(s[k]), f"image {i} box {k}")
        images.append({"index": i, "boxes": b.tolist(), "scores": s.tolist()})
    doc = {"format": JSON_FORMAT, "version": JSON_VERSION, "images": images}
    return Path(atomic_write_text(path, json.dumps(doc, allow_nan=False) + "\n"))
