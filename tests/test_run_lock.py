"""Run-folder locks and retries (issue 18, items 10 and 11): two processes never train one
folder at once, and a failed or step-0 run never blocks the next attempt."""

import csv
import json
import logging
import os
import subprocess
import sys
import textwrap
import time

import pytest

from factorbench.errors import FactorbenchError
from factorbench.train import TrainConfig, TrainRun, train
from factorbench.models.run_lock import LOCK_FILE, RunLock
from factorbench.models.checkpoint import is_finished

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_run(out, n=64, batch_size=32):
    return TrainRun("vae", {"latent_dim": 2, "base_channels": 2}, "digits-rgb", out, dataset_n=n,
                    train=TrainConfig(epochs=1, batch_size=batch_size))


def wait_for_holder(folder, pid, proc, seconds=300):
    deadline = time.time() + seconds
    while True:
        try:
            if json.loads((folder / LOCK_FILE).read_text() or "{}").get("pid") == pid:
                return
        except (OSError, ValueError):
            pass
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "the other process never took the lock"
        time.sleep(0.1)


def test_second_process_refuses_or_waits_then_skips_never_trains_alongside(tmp_path):
    out, release = tmp_path / "run", tmp_path / "release"
    # the first process stops after its first step, holding the folder's lock, until released
    script = textwrap.dedent(f"""
        import os, time, torch
        torch.set_num_threads(1)
        from factorbench.train import TrainConfig, TrainRun, train
        run = TrainRun("vae", {{"latent_dim": 2, "base_channels": 2}}, "digits-rgb", {str(out)!r}, dataset_n=64,
                       train=TrainConfig(epochs=1, batch_size=32))
        def hold(step):
            while step == 1 and not os.path.exists({str(release)!r}):
                time.sleep(0.05)
        train(run, progress=False, on_step=hold)
    """)

    class ReleaseWhenWaiting(logging.Handler):  # the second run says it waits: let the first finish
        def emit(self, record):
            if "waiting for" in record.getMessage():
                release.touch()

    handler = ReleaseWhenWaiting()
    logging.getLogger("factorbench.models.run_lock").addHandler(handler)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_holder(out, proc.pid, proc)
        with pytest.raises(FactorbenchError, match=rf"run is being trained by pid {proc.pid} on host .*; wait for "
                                                   r"it to finish or use another folder") as excinfo:
            train(tiny_run(out), progress=False, resume=True)  # factorbench train: refuse at once
        assert "\n" not in str(excinfo.value)
        model = train(tiny_run(out), progress=False, resume=True, wait=None)  # bench run: wait, then skip
        assert proc.wait(timeout=120) == 0, proc.communicate()
    finally:
        logging.getLogger("factorbench.models.run_lock").removeHandler(handler)
        if proc.poll() is None:
            proc.kill()
    assert release.exists()  # the second run did wait
    assert is_finished(out) and not model.training
    with (out / "losses.csv").open() as f:
        steps = [int(row["step"]) for row in csv.DictReader(f)]
    assert steps == [1, 2]  # each step logged once: nobody trained alongside
    assert (out / LOCK_FILE).read_text() == ""  # released, no holder named


def test_lock_of_a_killed_holder_is_free(tmp_path):
    """The kernel drops a record lock with its process: no stale lock after a kill."""
    folder = tmp_path / "run"
    script = textwrap.dedent(f"""
        import time
        from factorbench.models.run_lock import RunLock
        with RunLock({str(folder)!r}):
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_holder(folder, proc.pid, proc)
        with pytest.raises(FactorbenchError, match=rf"pid {proc.pid} on host"):
            with RunLock(folder, wait=0.2):
                pass
    finally:
        proc.kill()
        proc.wait(timeout=30)
    with RunLock(folder, wait=0) as lock:
        assert json.loads((folder / LOCK_FILE).read_text())["pid"] == os.getpid() and lock.fd is not None
        with pytest.raises(FactorbenchError, match=r"already being trained by this process"):
            with RunLock(folder):
                pass


def test_failed_training_leaves_nothing_that_blocks_a_retry(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(FactorbenchError, match=r"has 10 images, fewer than batch size 32"):
        train(tiny_run(out, n=10, batch_size=32), progress=False)
    assert not (out / "config.json").exists()
    train(tiny_run(out, n=10, batch_size=5), progress=False)  # the retry, without --resume
    assert is_finished(out)


def test_step0_folder_starts_over_with_or_without_resume(tmp_path):
    """A run killed (or failed) before its first checkpoint leaves config.json only."""
    out = tmp_path / "run"

    class Killed(Exception):
        pass

    def kill(step):
        raise Killed

    for resume in (False, True):
        with pytest.raises(Killed):
            train(tiny_run(out, n=64, batch_size=16), progress=False, on_step=kill)
        assert (out / "config.json").exists() and not (out / "trainer.pt").exists()
        train(tiny_run(out, n=64, batch_size=32), progress=False, resume=resume)  # another batch size: fine
        assert is_finished(out)
        assert json.loads((out / "config.json").read_text())["train"]["batch_size"] == 32
        for name in ("config.json", "trainer.pt", "model.pt", "losses.csv"):
            (out / name).unlink()
