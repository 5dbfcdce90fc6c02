"""The command line: help texts, one-line errors, datasets, train, bench run, table."""

import subprocess
import sys

import pytest
from click.testing import CliRunner
from PIL import Image

from factorbench.cli import main

COMMANDS = [[], ["datasets"], ["datasets", "list"], ["datasets", "show"], ["datasets", "prepare"], ["train"],
            ["bench"], ["bench", "run"], ["bench", "list"], ["table"], ["regress"], ["run"], ["run", "fid"],
            ["run", "kid"], ["run", "sharpness"], ["run", "mse"], ["run", "recon-acc"]]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "factorbench")
def test_every_command_explains_itself(cmd):
    result = CliRunner().invoke(main, cmd + ["--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output and len(result.output.splitlines()) > 4


def run_cli(*args):
    """Run the installed entry point in a subprocess: what a user sees, tracebacks included."""
    return subprocess.run([sys.executable, "-m", "factorbench", "--quiet", *args], capture_output=True, text=True)


@pytest.mark.parametrize("args, message", [
    (["datasets", "show", "no-such-set", "--out", "x.png"], "unknown dataset 'no-such-set'; known: "),
    (["train", "vae", "--dataset", "digits-rgb", "--set", "latent_dimm=3"], "unknown key(s) latent_dimm"),
    (["train", "no-model", "--dataset", "digits-rgb"], "unknown model 'no-model'"),
    (["bench", "run", "no-such-bench"], "no benchmark 'no-such-bench'"),
    (["table", "vae_beta_sweep", "--preset", "ci", "--results", "/nonexistent"], "no results for vae_beta_sweep"),
    (["train", "vae", "--dataset", "digits-rgb", "--device", "tpu"], "unknown device 'tpu'"),
])
def test_user_mistakes_are_one_line_and_nonzero(args, message):
    result = run_cli(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_datasets_list_and_show(tmp_path):
    listing = CliRunner().invoke(main, ["datasets", "list"])
    assert listing.exit_code == 0
    for name in ("shapes-fb", "multi-dsprites", "multi-digits", "digits-rgb", "shapes2d-rgb"):
        assert name in listing.output
    out = tmp_path / "grid.png"
    shown = CliRunner().invoke(main, ["datasets", "show", "multi-dsprites", "--out", str(out), "-n", "4"])
    assert shown.exit_code == 0, shown.output
    assert Image.open(out).size[0] > 64


def test_train_writes_a_checkpoint_folder(tmp_path):
    out = tmp_path / "ckpt"
    result = CliRunner().invoke(main, ["--quiet", "train", "vae", "--dataset", "digits-rgb", "--n-train", "64",
                                       "--epochs", "1", "--batch-size", "32", "--set", "latent_dim=4",
                                       "--set", "base_channels=4", "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.pt", "trainer.pt", "losses.csv"}


def test_train_takes_a_schedule_and_says_the_old_preset_option_was_renamed(tmp_path):
    """Issue 16: "preset" means a spec's [presets.X] only; a model's epochs/batch size for
    `factorbench train` is its schedule. The old spelling is refused in one line, with the new."""
    old = CliRunner().invoke(main, ["--quiet", "train", "vae", "--dataset", "digits-rgb", "--preset", "ci",
                                    "--out", str(tmp_path / "a")])
    assert old.exit_code == 1
    assert "--schedule ci" in old.output and not (tmp_path / "a").exists()
    unknown = CliRunner().invoke(main, ["--quiet", "train", "vae", "--dataset", "digits-rgb", "--schedule", "huge",
                                        "--out", str(tmp_path / "b")])
    assert unknown.exit_code == 1
    assert "no training schedule 'huge'; schedules: ci, quick, paper" in unknown.output
