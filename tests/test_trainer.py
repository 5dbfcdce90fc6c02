"""Trainer: exact resume after an interruption, checkpoint errors, config mismatch."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from factorbench.errors import FactorbenchError
from factorbench.train import TrainConfig, TrainRun, load_model, train
from factorbench.models.checkpoint import LOSSES_FILE, MODEL_FILE, TRAINER_FILE, load_state

MODEL = {"latent_dim": 4, "base_channels": 4}


def tiny_run(out, **train_kwargs):
    cfg = {"epochs": 2, "batch_size": 32, "checkpoint_every": 3, **train_kwargs}
    return TrainRun("vae", dict(MODEL), "digits-rgb", out, seed=7, train=TrainConfig(**cfg), dataset_n=160)


class Interrupt(Exception):
    pass


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_resume_after_interruption_gives_identical_weights(tmp_path):
    full = train(tiny_run(tmp_path / "full"), progress=False)

    def stop_at_7(step):  # killed after step 7; the last checkpoint is step 6
        if step == 7:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(tiny_run(tmp_path / "cut"), progress=False, on_step=stop_at_7)
    assert load_state(tmp_path / "cut" / TRAINER_FILE)["step"] == 6
    resumed = train(tiny_run(tmp_path / "cut"), progress=False, resume=True)
    assert_same_weights(full, resumed)
    assert_same_weights(full, load_model(tmp_path / "cut"))
    # the loss log is cut back to the checkpoint and re-logged: identical to the full run's
    assert (tmp_path / "cut" / LOSSES_FILE).read_text() == (tmp_path / "full" / LOSSES_FILE).read_text()


def test_sigkilled_cli_run_resumes_to_identical_weights(tmp_path):
    """A real SIGKILL of `factorbench train` after its first checkpoint, then --resume."""
    args = [sys.executable, "-m", "factorbench", "--quiet", "train", "vae", "--dataset", "digits-rgb",
            "--n-train", "256", "--epochs", "8", "--batch-size", "16", "--checkpoint-every", "4",
            "--set", "latent_dim=4", "--set", "base_channels=4", "--seed", "3"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(args + ["--out", str(tmp_path / "full")], check=True, env=env, capture_output=True)
    proc = subprocess.Popen(args + ["--out", str(tmp_path / "cut")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "cut" / TRAINER_FILE
    deadline = time.time() + 120
    while not ckpt.exists():
        assert proc.poll() is None and time.time() < deadline, "no checkpoint before the run ended"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    state = load_state(ckpt)
    assert not state["finished"] and state["step"] < 128  # really killed part-way
    subprocess.run(args + ["--out", str(tmp_path / "cut"), "--resume"], check=True, env=env, capture_output=True)
    assert_same_weights(load_model(tmp_path / "full"), load_model(tmp_path / "cut"))


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    train(tiny_run(tmp_path / "run", epochs=1), progress=False)
    (tmp_path / "run" / MODEL_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(FactorbenchError, match=r"model\.pt is corrupt or unreadable"):
        load_model(tmp_path / "run")
    data = (tmp_path / "run" / TRAINER_FILE).read_bytes()
    (tmp_path / "run" / TRAINER_FILE).write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(FactorbenchError, match=r"trainer\.pt is corrupt or unreadable"):
        train(tiny_run(tmp_path / "run", epochs=1), progress=False, resume=True)


def test_checkpoint_config_mismatch_is_a_clear_error(tmp_path):
    train(tiny_run(tmp_path / "run", epochs=1), progress=False)
    config_path = tmp_path / "run" / "config.json"
    config = json.loads(config_path.read_text())
    config["model_config"]["latent_dim"] = 6
    config_path.write_text(json.dumps(config))
    with pytest.raises(FactorbenchError, match=r"do not match the model built from .*config\.json"):
        load_model(tmp_path / "run")


def test_resume_with_different_settings_is_refused(tmp_path):
    train(tiny_run(tmp_path / "run", epochs=1), progress=False)
    other = tiny_run(tmp_path / "run", epochs=1)
    other.model_config["beta"] = 4.0
    with pytest.raises(FactorbenchError, match=r"cannot resume .*beta"):
        train(other, progress=False, resume=True)
    with pytest.raises(FactorbenchError, match="already holds a training run"):
        train(tiny_run(tmp_path / "run", epochs=1), progress=False)


def test_nan_loss_stops_with_a_clear_error(tmp_path, monkeypatch):
    from factorbench.models.vae.model import VAE

    real = VAE.training_step

    def poisoned(self, batch, phase):
        out = real(self, batch, phase)
        out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(VAE, "training_step", poisoned)
    with pytest.raises(FactorbenchError, match="training diverged: train loss is nan at step 1"):
        train(tiny_run(tmp_path / "run", epochs=1), progress=False)


def test_loss_log_has_one_row_per_step(tmp_path):
    train(tiny_run(tmp_path / "run"), progress=False)
    lines = (tmp_path / "run" / LOSSES_FILE).read_text().strip().splitlines()
    assert lines[0] == "step,epoch,kl,loss,mse,rec"
    assert [int(l.split(",")[0]) for l in lines[1:]] == list(range(1, 11))  # 160 // 32 * 2 epochs
