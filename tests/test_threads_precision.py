"""Thread pinning and the bf16 opt-in of the trainer (factorbench/seeding.py, train/trainer.py).

Deterministic training runs on seeding.DETERMINISTIC_THREADS torch threads whatever the
caller's setting, so weights do not depend on the core count or the executor; bf16 autocast
is opt-in, moves the losses only slightly, and leaves fp32 runs' ids and configs as before."""

import csv

import pytest
import torch

from factorbench.errors import FactorbenchError
from factorbench.seeding import DETERMINISTIC_THREADS, fixed_threads
from factorbench.train import TrainConfig, TrainRun, train
from factorbench.models.checkpoint import LOSSES_FILE

MODEL = {"latent_dim": 4, "base_channels": 4}


def tiny_run(out, **train_kwargs):
    return TrainRun("vae", dict(MODEL), "digits-rgb", out, seed=3,
                    train=TrainConfig(epochs=1, batch_size=32, **train_kwargs), dataset_n=128)


def losses(folder):
    with (folder / LOSSES_FILE).open(newline="") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


@pytest.fixture
def threads():
    """Set torch's thread count for a test, restored afterwards."""
    old = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(old)


def test_fixed_threads_pins_and_restores(threads):
    threads(3)
    with fixed_threads() as n:
        assert n == DETERMINISTIC_THREADS == torch.get_num_threads()
    assert torch.get_num_threads() == 3
    with fixed_threads(False) as n:
        assert n is None and torch.get_num_threads() == 3


def test_deterministic_training_ignores_the_callers_thread_count(tmp_path, threads):
    threads(1)
    one = train(tiny_run(tmp_path / "one"), progress=False)
    threads(3)
    three = train(tiny_run(tmp_path / "three"), progress=False)
    assert torch.get_num_threads() == 3  # restored after training
    for key, value in one.state_dict().items():
        assert torch.equal(value, three.state_dict()[key]), key


def test_bf16_autocast_trains_close_to_fp32(tmp_path):
    train(tiny_run(tmp_path / "fp32"), progress=False)
    train(tiny_run(tmp_path / "bf16", precision="bf16"), progress=False)
    a, b = losses(tmp_path / "fp32"), losses(tmp_path / "bf16")
    assert len(a) == len(b) == 4 and a != b  # autocast really ran
    assert all(abs(x - y) <= 1e-2 * abs(x) for x, y in zip(a, b))


def test_precision_setting_keeps_fp32_ids_and_checks_its_value():
    assert "precision" not in TrainConfig().key()  # ids and configs of earlier runs unchanged
    assert TrainConfig(precision="bf16").key()["precision"] == "bf16"
    with pytest.raises(FactorbenchError, match="precision must be one of fp32, bf16"):
        TrainConfig(precision="fp16")
