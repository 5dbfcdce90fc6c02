import pytest

from factorbench.bench.store import has_record, make_record, read_records, write_record
from factorbench.errors import FactorbenchError


def record(value=1.5):
    return make_record(benchmark="b", preset="ci", cell_id="abc123", metric="recon_mse", value=value, model="vae",
                       dataset={"name": "digits-rgb"}, hparams={"beta": 1.0, "latent_dim": 8},
                       train={"epochs": 1}, grid={"beta": 1.0}, seed=2, protocol={"definition": "d"},
                       checkpoint="runs/x")


def test_record_carries_full_provenance():
    r = record()
    for key in ("metric", "value", "model", "dataset", "hparams", "train", "grid", "seed", "preset", "protocol",
                "versions", "git_commit", "time", "factorbench"):
        assert key in r
    assert {"python", "torch", "numpy"} <= set(r["versions"])


def test_write_read_roundtrip_and_overwrite(tmp_path):
    write_record(tmp_path, record(1.5))
    write_record(tmp_path, record(2.5))  # the same cell and metric: replaced, not duplicated
    assert has_record(tmp_path, "b", "ci", "abc123", "recon_mse")
    (got,) = read_records(tmp_path, "b", "ci")
    assert got["value"] == 2.5 and got["hparams"] == {"beta": 1.0, "latent_dim": 8}


def test_corrupt_record_is_a_clear_error(tmp_path):
    path = write_record(tmp_path, record())
    path.write_text("{ not json")
    with pytest.raises(FactorbenchError, match="is corrupt"):
        read_records(tmp_path, "b", "ci")
