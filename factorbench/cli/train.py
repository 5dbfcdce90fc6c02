"""``factorbench train MODEL --dataset D``: one training run into a run folder (factorbench.train)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Tuple

import click

from ..errors import FactorbenchError
from .support import device_option, progress_enabled


def _parse_sets(pairs: Tuple[str, ...]) -> dict:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise FactorbenchError(f"--set expects KEY=VALUE, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


@click.command("train")
@click.argument("model")
@click.option("--dataset", required=True, help="Dataset name (see `factorbench datasets list`).")
@click.option("--schedule", default="quick", show_default=True,
              help="The model's training schedule: epochs and batch size (ci, quick, paper; see its train_schedules). "
                   "Not a benchmark preset: those are [presets.X] of a spec, for `bench run --preset`.")
@click.option("--preset", "old_preset", default=None, hidden=True)
@click.option("--seed", default=0, show_default=True, help="Master seed.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Checkpoint folder.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Model config override, e.g. --set beta=4.")
@click.option("--epochs", type=click.IntRange(min=1), default=None)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--checkpoint-every", type=click.IntRange(min=0), default=None, help="Steps between checkpoints (default: every epoch).")
@click.option("--n-train", type=click.IntRange(min=1), default=None, help="Training-split size (default: the dataset's).")
@click.option("--init-from", type=click.Path(file_okay=False), default=None,
              help="Finished checkpoint to start from: the same model (fine-tuning, §4.4.2) or a stage-1 model "
                   "(e.g. the VAE of an lsr_gan, §3.2.1). Images are converted to its input shape.")
@click.option("--image-size", type=click.IntRange(min=4), default=None, metavar="SIDE",
              help="Resize the images to SIDE x SIDE before training (bilinear, antialiased; channels kept), "
                   "e.g. 32 for MNIST's 28x28 on the conv and resnet backbones.")
@device_option
@click.pass_context
def train_cmd(ctx, model, dataset, schedule, old_preset, seed, out, resume, sets, epochs, batch_size, checkpoint_every, n_train,
              init_from, image_size, device):
    """Train MODEL on DATASET; checkpoints, config.json and losses.csv go to --out."""
    from ..config import config_from_dict
    from ..device import resolve_device
    from ..models import MODELS
    from ..train import TrainConfig, TrainRun, train

    if old_preset is not None:
        raise FactorbenchError(f"`factorbench train --preset` is now `--schedule` (a model's training schedule; "
                               f"a preset is a benchmark spec's [presets.X]): use --schedule {old_preset}")
    cls = MODELS.get(model)
    if schedule not in cls.train_schedules:
        raise FactorbenchError(f"model {model} has no training schedule {schedule!r}; schedules: "
                               f"{', '.join(cls.train_schedules)}")
    values = dict(cls.train_schedules[schedule])
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("checkpoint_every", checkpoint_every)):
        if value is not None:
            values[key] = value
    train_config = config_from_dict(TrainConfig, values, where="train")
    config_from_dict(cls.config_class, _parse_sets(sets), where=f"model {model}")  # a bad --set fails before any data is built
    folder = Path(out) if out else Path("runs") / "train" / f"{model}-{dataset}-seed{seed}"
    image_shape = None
    if init_from:
        from ..models.checkpoint import read_run_config
        image_shape = read_run_config(Path(init_from))["image_shape"]
        if image_size is not None and tuple(image_shape[1:]) != (image_size, image_size):
            raise FactorbenchError(f"--image-size {image_size} disagrees with --init-from, which was trained at "
                                   f"{image_shape[1]}x{image_shape[2]} (the images are converted to its shape)")
    elif image_size is not None:
        from ..data import DATASETS
        image_shape = [DATASETS.get(dataset).describe()["image_shape"][0], image_size, image_size]
    run = TrainRun(model, _parse_sets(sets), dataset, folder, seed=seed, train=train_config, dataset_n=n_train,
                   init_from=Path(init_from) if init_from else None, image_shape=image_shape)
    train(run, device=resolve_device(device), resume=resume, progress=progress_enabled(ctx))
    click.echo(f"trained {model} on {dataset} -> {folder}")
