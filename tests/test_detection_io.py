"""Predicted boxes from JSON / CSV files (docs/protocols.md §3 External models, §4.4)."""

import json

import numpy as np
import pytest
import torch

from factorbench.errors import FactorbenchError
from factorbench.metrics.detection import average_precision
from factorbench.metrics.detection_io import (read_predictions, read_predictions_csv, read_predictions_json,
                                              write_predictions_json)

HEADER = "index,x0,y0,x1,y1,score\n"


def test_json_round_trip_keeps_every_image_and_value(tmp_path):
    boxes = [np.array([[1.5, 2.0, 10.0, 12.25], [0.0, 0.0, 4.0, 4.0]]), np.zeros((0, 4)),
             torch.tensor([[3.0, 3.0, 3.0, 9.0]])]  # a zero-width box is allowed
    scores = [np.array([0.9, 0.125]), np.zeros(0), torch.tensor([0.5])]
    path = write_predictions_json(tmp_path / "sub" / "pred.json", boxes, scores)
    assert json.loads(path.read_text())["format"] == "factorbench-box-predictions"
    back = read_predictions(path, n_images=3)
    assert [b.tolist() for b in back.boxes] == [boxes[0].tolist(), [], [[3.0, 3.0, 3.0, 9.0]]]
    assert back.boxes[1].shape == (0, 4)
    assert [s.tolist() for s in back.scores] == [[0.9, 0.125], [], [0.5]]
    # a split with more images than the file lists: the others have no predictions
    more = read_predictions_json(path, n_images=5)
    assert len(more.boxes) == 5 and more.boxes[4].shape == (0, 4) and more.scores[4].shape == (0,)


def test_csv_rows_group_by_index_and_feed_average_precision(tmp_path):
    path = tmp_path / "pred.csv"
    path.write_text("score, x0,y0,x1,y1,index,label\n"  # any column order, extra columns ignored
                    "0.9,0,0,10,10,1,7\n"
                    "0.4,20,0,30,10,1,3\n"
                    "\n"
                    "0.8,40,40,50,50,0,1\n")
    pred = read_predictions(path, n_images=3)
    assert [b.tolist() for b in pred.boxes] == [[[40, 40, 50, 50]], [[0, 0, 10, 10], [20, 0, 30, 10]], []]
    assert pred.scores[1].tolist() == [0.9, 0.4]
    gt = [np.array([[40, 40, 50, 50]], float), np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float),
          np.zeros((0, 4))]
    assert average_precision(pred.boxes, pred.scores, gt).ap == 1.0


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ('[1, 2]', "'images' list"),
    ('{"images": [{"index": 0, "boxes": []}]}', "missing 'scores'"),
    ('{"images": [{"index": 0, "boxes": [[0, 0, 1]], "scores": [1]}]}', "must be 4 numbers"),
    ('{"images": [{"index": 0, "boxes": [["0", 0, 1, 1]], "scores": [1]}]}', "must be 4 numbers"),
    ('{"images": [{"index": 0, "boxes": [[0, 0, 1, 1]], "scores": [NaN]}]}', "NaN or inf"),
    ('{"images": [{"index": 0, "boxes": [[0, 0, Infinity, 1]], "scores": [1]}]}', "NaN or inf"),
    ('{"images": [{"index": 0, "boxes": [[5, 0, 1, 1]], "scores": [1]}]}', "x1 < x0"),
    ('{"images": [{"index": 0, "boxes": [[0, 5, 1, 1]], "scores": [1]}]}', "y1 < y0"),
    ('{"images": [{"index": 2, "boxes": [], "scores": []}]}', "out of range for 2 images"),
    ('{"images": [{"index": -1, "boxes": [], "scores": []}]}', "out of range"),
    ('{"images": [{"index": 0.5, "boxes": [], "scores": []}]}', "not an integer"),
    ('{"images": [{"index": 0, "boxes": [], "scores": []}, {"index": 0, "boxes": [], "scores": []}]}',
     "more than once"),
    ('{"images": [{"index": 0, "boxes": [[0, 0, 1, 1]], "scores": []}]}', "same length"),
])
def test_bad_json_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "pred.json"
    path.write_text(text)
    with pytest.raises(FactorbenchError, match=message) as info:
        read_predictions(path, n_images=2)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("index,x0,y0,x1,y1\n0,0,0,1,1\n", "missing column.*score"),
    (HEADER + "0,0,0,1,1\n", "missing value for column 'score'"),
    (HEADER + "0,0,0,1,1,0.5,9\n", "more values than columns"),
    (HEADER + "0,a,0,1,1,0.5\n", "'a' in column 'x0' is not a number"),
    (HEADER + "1.5,0,0,1,1,0.5\n", "not an integer"),
    (HEADER + "0,0,0,1,1,nan\n", "NaN or inf"),
    (HEADER + "0,0,0,inf,1,0.5\n", "NaN or inf"),
    (HEADER + "0,2,0,1,1,0.5\n", "x1 < x0"),
    (HEADER + "0,0,0,1,1,0.5\n5,0,0,1,1,0.5\n", "line 3: index 5 is out of range for 2 images"),
])
def test_bad_csv_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "pred.csv"
    path.write_text(text)
    with pytest.raises(FactorbenchError, match=message) as info:
        read_predictions_csv(path, n_images=2)
    assert "\n" not in str(info.value)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(FactorbenchError, match="does not exist"):
        read_predictions(tmp_path / "nope.json", n_images=1)
    with pytest.raises(FactorbenchError, match="does not exist"):
        read_predictions(tmp_path / "nope.csv", n_images=1)
    (tmp_path / "pred.txt").write_text(HEADER)
    with pytest.raises(FactorbenchError, match=r"\.json or \.csv"):
        read_predictions(tmp_path / "pred.txt", n_images=1)
    (tmp_path / "pred.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(FactorbenchError, match="not UTF-8"):
        read_predictions(tmp_path / "pred.json", n_images=1)


def test_writer_rejects_bad_predictions_and_leaves_no_file(tmp_path):
    with pytest.raises(FactorbenchError, match="x1 < x0"):
        write_predictions_json(tmp_path / "p.json", [np.array([[5.0, 0, 1, 1]])], [np.array([0.5])])
    with pytest.raises(FactorbenchError, match="NaN or inf"):
        write_predictions_json(tmp_path / "p.json", [np.array([[0.0, 0, 1, 1]])], [np.array([np.nan])])
    with pytest.raises(FactorbenchError, match="must be"):
        write_predictions_json(tmp_path / "p.json", [np.zeros((2, 4))], [np.zeros(3)])
    assert list(tmp_path.iterdir()) == []
