"""``factorbench run METRIC ...``: one metric on folders, checkpoints, datasets or stats files.

One command group of :mod:`factorbench.cli` (the root is :mod:`.root`); parsing and
printing only, the work is in :mod:`factorbench.metrics`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import click

from ..errors import FactorbenchError
from .support import progress_enabled


def _device(device: Optional[str]) -> str:
    from ..device import resolve_device

    return resolve_device(device)


def source_options(f):
    f = click.option("--n", "n", type=click.IntRange(min=1), default=None,
                     help="Images per side (default: all of a folder/dataset; a checkpoint matches the other side).")(f)
    f = click.option("--sampling", type=click.Choice(["random", "test"]), default="random", show_default=True,
                     help="How a checkpoint makes images: decode z ~ N(0,I), or reconstruct its test images.")(f)
    f = click.option("--seed", type=int, default=0, show_default=True, help="Seed for sampling from a checkpoint.")(f)
    f = click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)(f)
    f = click.option("--device", default=None, metavar="cpu|cuda", help="Default: cuda if available, else cpu.")(f)
    return f


def fid_options(f):
    f = click.option("--size", type=int, default=None,
                     help="Evaluation size: both sides are resized to it first (default: the fake images' size).")(f)
    f = click.option("--no-cache", is_flag=True, help="Recompute dataset reference statistics instead of reading the cache.")(f)
    f = click.option("--json", "as_json", is_flag=True, help="Print the full result record(s) as JSON.")(f)
    return f


def _eval_size(size: Optional[int], fake, real) -> int:
    from ..metrics.image_sources import Images

    if size is not None:
        if size < 2:
            raise FactorbenchError("--size must be at least 2")
        return size
    for side in (fake, real):
        if isinstance(side, Images):
            return side.size
    raise FactorbenchError("both sides are statistics files: pass --size to record the evaluation size")


@click.group("run")
def run() -> None:
    """Compute one metric: fid, kid, sharpness, mse, recon-acc, detection."""


@run.command("fid")
@click.argument("fake")
@click.argument("real")
@click.option("--mode", type=click.Choice(["direct", "saved", "both", "clean"]), default="both", show_default=True,
              help="direct: float in memory; saved: PNG round trip; both: the thesis's side by side; clean: clean-fid.")
@click.option("--save-stats", type=click.Path(dir_okay=False), default=None,
              help="Write REAL's statistics (mu, sigma, n and the protocol) to this .npz (one mode only).")
@click.option("--allow-protocol-mismatch", is_flag=True,
              help="Use a statistics file computed under another protocol (the record says so).")
@click.option("--kid", "with_kid", is_flag=True, help="Also KID, from the same Inception features (no second pass).")
@click.option("--prc", "with_prc", is_flag=True,
              help="Also improved precision/recall (Kynkäänniemi et al. 2019, k=3), from the same features.")
@fid_options
@source_options
@click.pass_context
def run_fid(ctx, fake, real, mode, save_stats, allow_protocol_mismatch, with_kid, with_prc, size, no_cache, as_json, n,
            sampling, seed,
            batch_size, device):
    """FID of FAKE against REAL. Each is an image folder, a checkpoint folder, a dataset
    (NAME or NAME:SPLIT) or a .npz of mu/sigma. Every result states its protocol; a .npz
    written by --save-stats is used only under the protocol it was computed with."""
    from ..metrics.fid import compute_fid, save_stats_npz, stats_file_protocol
    from ..metrics.image_sources import Images
    from ..metrics.sources import SourceOptions, resolve_pair

    dev = _device(device)
    f, r = resolve_pair(fake, real, SourceOptions(n, sampling, seed, batch_size, dev))
    eval_size = _eval_size(size, f, r)
    modes = ["saved", "direct"] if mode == "both" else [mode]
    if save_stats and len(modes) > 1:
        raise FactorbenchError("--save-stats needs one --mode (statistics differ between modes)")
    for arg, side in ((fake, f), (real, r)):
        stored = None if isinstance(side, Images) or len(modes) == 1 else stats_file_protocol(side)
        if stored is not None and not allow_protocol_mismatch:
            raise FactorbenchError(f"{arg}: statistics computed in {stored['mode']} mode; --mode both would score "
                                   f"them under both modes: use --mode {stored['mode']} (or images on that side)")
    if save_stats and (with_kid or with_prc):
        raise FactorbenchError("--save-stats writes FID statistics only; run it without --kid/--prc")
    results, extra = [], []
    for m in modes:
        if with_kid or with_prc:  # one feature pass per side for every metric (factorbench.api)
            from ..api.image_metrics import image_metrics

            found = image_metrics(f, r, True, with_kid, with_prc, m, eval_size, None, batch_size, dev, seed,
                                  use_cache=not no_cache, progress=progress_enabled(ctx)).to_records()
            results.append(found[0])
            extra += found[1:]
            continue
        record, _, real_stats = compute_fid(f, r, m, eval_size, batch_size, dev, not no_cache, progress_enabled(ctx),
                                            allow_protocol_mismatch)
        results.append(record)
        if save_stats:
            click.echo(f"wrote {save_stats_npz(Path(save_stats), real_stats)}", err=True)
    fixed = [(name, arg) for name, side, arg in (("fake", f, fake), ("real", r, real)) if not isinstance(side, Images)]
    if len(results) > 1:
        for rec in results:
            rec["protocol"]["same_in_every_mode"] = [name for name, _ in fixed]
    if as_json:
        click.echo(json.dumps(results + extra, indent=2, default=str))
        _warn(results + extra)
        return
    p = results[0]["protocol"]
    caption = (f"FID, {_count(p['n_fake'])} fake / {_count(p['n_real'])} real images at {eval_size}x{eval_size}; "
               f"Inception TF-2015-12-05 (sha1 {p['extractor']['sha1'][:12]})")
    click.echo("| " + " | ".join(["FID"] + [r["protocol"]["mode"] for r in results]) + " |")
    click.echo("|---" * (len(results) + 1) + "|")
    click.echo("| " + " | ".join([f"{fake} vs {real}"] + [f"{r['value']:.2f}" for r in results]) + " |")
    click.echo("")
    click.echo(caption + ". " + " ".join(f"{r['protocol']['mode']}: resize to 299 = {r['protocol']['resize_to_299']}; "
                                        f"rounding: fake {_steps(r['protocol']['fake'])}, real {_steps(r['protocol']['real'])}."
                                        for r in results)
               + "".join(_fixed_note(name, arg, results) for name, arg in fixed))
    for record in extra:
        spread = f" ± {record['std']:.6f}" if "std" in record else ""
        click.echo(f"{record['metric']} {record['value']:.6f}{spread}")
    _warn(results + extra)


def _count(n) -> str:
    return "unknown" if n is None else str(n)


def _fixed_note(name: str, arg: str, results: list) -> str:
    """What a statistics-file side is, and that it does not change between the columns."""
    side = results[0]["protocol"][name]
    stored = side.get("stats_protocol", "unknown")
    what = "protocol unknown" if stored == "unknown" else f"computed in {stored['mode']} mode at {stored['image_size']}"
    note = f" The {name} side is the statistics file {arg} ({what})"
    if len(results) > 1:
        note += ", the same in every column: only the other side's pipeline differs"
    for rec in results:  # each mode's own mismatches (--mode both: a saved-mode file is off only in direct)
        mismatch = rec["protocol"][name].get("protocol_mismatch")
        if mismatch:
            note += (f"; in {rec['protocol']['mode']} mode used under another protocol (--allow-protocol-mismatch): "
                     f"{'; '.join(mismatch)}")
    return note + "."


def _warn(results: list) -> None:
    """Each warning of the records once, one line each, on stderr."""
    seen = []
    for rec in results:
        for w in (rec.get("protocol") or {}).get("warnings", []):
            if w not in seen:
                seen.append(w)
                click.echo(f"warning: {w}", err=True)


def _steps(side: dict) -> str:
    return "; ".join(side["quantisation"]) or "none"


@run.command("kid")
@click.argument("fake")
@click.argument("real")
@click.option("--mode", type=click.Choice(["direct", "saved", "clean"]), default="saved", show_default=True)
@click.option("--subsets", type=click.IntRange(min=1), default=100, show_default=True, help="Number of random subsets (torch-fidelity).")
@fid_options
@source_options
@click.pass_context
def run_kid(ctx, fake, real, mode, subsets, size, no_cache, as_json, n, sampling, seed, batch_size, device):
    """KID of FAKE against REAL (images on both sides), mean ± std over subsets."""
    from ..metrics.fid import compute_kid
    from ..metrics.sources import SourceOptions, resolve_pair

    dev = _device(device)
    f, r = resolve_pair(fake, real, SourceOptions(n, sampling, seed, batch_size, dev))
    record = compute_kid(f, r, mode, _eval_size(size, f, r), batch_size, dev, not no_cache, progress_enabled(ctx),
                         seed, subsets)
    if as_json:
        click.echo(json.dumps([record], indent=2, default=str))
    else:
        p = record["protocol"]
        click.echo(f"KID [{mode}] {record['value']:.6f} ± {record['std']:.6f} "
                   f"({p['n_fake']} fake / {p['n_real']} real, subsets of {p['kid_subset_size']})")
    _warn([record])


@run.command("sharpness")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print the result record as a JSON list.")
@source_options
def run_sharpness(source, as_json, n, sampling, seed, batch_size, device):
    """Laplacian sharpness of SOURCE's images, mean ± std (thesis eq. 3.4; OpenIMAJ)."""
    from ..metrics.image_sources import Images
    from ..metrics.sharpness import sharpness, sharpness_summary
    from ..metrics.sources import SourceOptions, resolve

    images = resolve(source, SourceOptions(n, sampling, seed, batch_size, _device(device)))
    if not isinstance(images, Images):
        raise FactorbenchError("sharpness needs images, not a statistics file")
    x = images.data.float() / 255 if images.quantised else images.data
    values = sharpness(x)
    mean, std = sharpness_summary(values)
    if as_json:
        from ..metrics.sharpness import sharpness_protocol

        record = {"metric": "sharpness", "value": mean, "std": std,
                  "protocol": sharpness_protocol(values, images.source.get("kind", "images"))}
        click.echo(json.dumps([record], indent=2, default=str))
        return
    click.echo(f"sharpness {mean:.4f} ± {std:.4f} (std over images) over {len(values)} images")


for _param in run_kid.params:  # KID's seed also draws its random subsets
    if _param.name == "seed":
        _param.help = "Seed for KID's random subsets and for sampling from a checkpoint."


def _checkpoint_context(checkpoint: str, device: str, n_test: Optional[int]):
    from ..data import get_dataset
    from ..evaluators import EvalContext
    from ..models.checkpoint import load_model, read_run_config

    config = read_run_config(Path(checkpoint))
    ds = config["dataset"]
    model = load_model(Path(checkpoint), device)
    train = get_dataset(ds["name"], ds.get("split", "train"), n=ds.get("n"), seed=ds.get("seed", 0))
    test = get_dataset(ds["name"], "test", n=n_test, seed=ds.get("seed", 0))
    shape = tuple(model.image_shape)
    if shape != tuple(train.image_shape):  # trained with --image-size (or a spec's image_shape): convert alike
        from ..data.convert import convert_dataset

        train, test = convert_dataset(train, shape), convert_dataset(test, shape)
    return EvalContext(model, train, test, device=device, seed=0)


def _print_values(values, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([{"metric": v.metric, "value": v.value, "protocol": v.protocol} for v in values],
                              indent=2, default=str))
    else:
        for v in values:
            click.echo(f"{v.metric} {v.value:.6g}")


@run.command("detection")
@click.argument("source")
@click.option("--dataset", "dataset_name", default=None,
              help="Dataset whose ground-truth boxes score a predictions file (default for a checkpoint: its own).")
@click.option("--split", default="test", show_default=True, help="Split of --dataset the predictions are for.")
@click.option("--n", "n_images", type=click.IntRange(min=1), default=1000, show_default=True, help="Images scored (the first n).")
@click.option("--candidates", type=click.Choice(["all", "kept"]), default="all", show_default=True,
              help="Boxes both APs rank: all the model proposes (SAID's K glimpses, every SPAIR/SPACE cell) or kept.")
@click.option("--gt-boxes", type=click.Choice(["tight", "frame"]), default="tight", show_default=True,
              help="Ground-truth boxes: tight around each object, or each digit's placed frame (thesis §6.4.1).")
@click.option("--figures", type=click.Path(file_okay=False), default=None, help="Write boxes.png (and glimpse figures) here.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--device", default=None, metavar="cpu|cuda")
def run_detection(source, dataset_name, split, n_images, candidates, gt_boxes, figures, as_json, device):
    """AP (SPAIR protocol, IoU 0.1:0.9; SPACE protocol, 0.5:0.95) and object-count errors
    (thesis Tables 6.1/6.3) of SOURCE: an object model's checkpoint folder (SAID, SPAIR,
    SPACE), or a predictions file (.json or .csv: boxes and scores per image index, see
    factorbench/metrics/detection_io.py) scored against --dataset's ground-truth boxes. Image
    indices refer to the split at its default size (a synthetic split generated with fewer
    images is a different set of images)."""
    from ..data import get_dataset
    from ..errors import FactorbenchError
    from ..evaluators import EVALUATORS, EvalContext
    from ..metrics.detection_io import read_predictions
    from ..evaluators.object_discovery import PredictedBoxes

    path = Path(source)
    if path.suffix.lower() in (".json", ".csv"):
        if dataset_name is None:
            raise FactorbenchError("a predictions file needs --dataset, the dataset whose boxes it predicts")
        test = get_dataset(dataset_name, split)
        predictions = read_predictions(path, len(test))
        ctx = EvalContext(PredictedBoxes(predictions.boxes, predictions.scores), test, test, seed=0,
                          figures=Path(figures) if figures else None)
    else:
        ctx = _checkpoint_context(source, _device(device), n_images)
        if dataset_name is not None:
            ctx.test = get_dataset(dataset_name, split, n=n_images)
        ctx.figures = Path(figures) if figures else None
    values = EVALUATORS.get("object_discovery")(ctx, n=n_images, candidates=candidates, gt_boxes=gt_boxes)
    _print_values(values, as_json)


@run.command("mse")
@click.argument("checkpoint")
@click.option("--n", "n_test", type=click.IntRange(min=1), default=None, help="Test images (default: the whole test split).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--device", default=None, metavar="cpu|cuda")
def run_mse(checkpoint, n_test, as_json, device):
    """Reconstruction error of CHECKPOINT on its dataset's test split (per-image sum of squares)."""
    from ..evaluators import EVALUATORS

    _print_values(EVALUATORS.get("recon_mse")(_checkpoint_context(checkpoint, _device(device), n_test)), as_json)


@run.command("recon-acc")
@click.argument("checkpoint")
@click.option("--label", default=None, help="Which label the classifier predicts (default: the dataset's only one).")
@click.option("--n", "n_test", type=click.IntRange(min=1), default=None, help="Test images (default: the whole test split).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--device", default=None, metavar="cpu|cuda")
def run_recon_acc(checkpoint, label, n_test, as_json, device):
    """Accuracy of a fixed classifier on CHECKPOINT's reconstructions: absolute (true label),
    relative (the classifier's label for the raw image) and the classifier's raw accuracy."""
    from ..evaluators import EVALUATORS

    ctx = _checkpoint_context(checkpoint, _device(device), n_test)
    _print_values(EVALUATORS.get("recon_acc")(ctx, label=label), as_json)
