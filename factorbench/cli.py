"""The ``factorbench`` command line (docs/protocols.md §1). One small function per command: parse,
call the library, print. A :class:`~factorbench.errors.FactorbenchError` becomes one line
on stderr and exit status 1."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Optional, Tuple

import click

from .cli_support import EXIT_CRASH, EXIT_DRIFT, EXIT_USER, decorate, enable_progress_lines, print_records
from .errors import FactorbenchError


class Group(click.Group):
    """A click group that turns user errors into one line instead of a traceback, and gives
    every subcommand ``--quiet`` and its help example (:mod:`.cli_support`)."""

    def add_command(self, cmd, name=None) -> None:
        super().add_command(cmd, name)
        path = " ".join(p for p in (getattr(self, "_path", None), name or cmd.name) if p)
        cmd._path = path
        decorate(cmd, path)

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:  # a bad option is a user error too
            exc.exit_code = EXIT_USER
            raise

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USER
            raise
        except FactorbenchError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # unwritable --out, full disk, ...: the OS's own one-line reason
            raise click.ClickException(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception:  # a bug: keep the traceback, and an exit status that is not a user error's
            if ctx.parent is not None:
                raise
            import traceback

            traceback.print_exc()
            click.echo(f"factorbench crashed (a bug, not a mistake in the command); exit status {EXIT_CRASH}",
                       err=True)
            sys.exit(EXIT_CRASH)


def progress_enabled(ctx: click.Context) -> bool:
    """Bars when stderr is a terminal; otherwise progress lines (:func:`enable_progress_lines`)."""
    enable_progress_lines(ctx)
    return not ctx.obj.get("quiet") and sys.stderr.isatty()


def device_option(f):
    return click.option("--device", default=None, metavar="cpu|cuda",
                        help="Where to run (default: cuda if available, else cpu).")(f)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Folder holding the real datasets (default: $FACTORBENCH_DATA, else ./data).")
@click.version_option(package_name="factorbench")
@click.pass_context
def main(ctx: click.Context, quiet: bool, data_root: Optional[str]) -> None:
    """factorbench: train, evaluate and tabulate generative models with factorised
    representations, reproducing the tables of the thesis.

    Start with `factorbench bench run vae_beta_sweep --preset quick`, then look at
    results/tables/. Exit status: 1 a user error, 3 regression drift, anything else a crash.
    """
    ctx.ensure_object(dict)["quiet"] = quiet
    if data_root:
        os.environ["FACTORBENCH_DATA"] = data_root


decorate(main, "")


# ---------------------------------------------------------------------------- datasets
@main.group(cls=Group)
def datasets() -> None:
    """List, preview and build datasets."""


@datasets.command("list")
def datasets_list() -> None:
    """Show every registered dataset: kind, image shape, fields, and whether it is built
    (synthetic) or found on disk, and where (real; see --data-root)."""
    from .data import DATASETS

    for name in DATASETS.names():
        source = DATASETS.get(name)
        d = source.describe()
        if d["kind"] == "synthetic":
            state = "cached" if all(source.is_cached(s) for s in d["sizes"]) else "not built yet"
            sizes = " ".join(f"{k}={v}" for k, v in d["sizes"].items())
        else:
            state = f"found in {d['root']}" if d["found"] else f"not found in {d['root']}"
            if d.get("shipped"):
                state = "found (shipped with factorbench, no data root needed)"
            sizes = "splits " + "/".join(d["sizes"])
        shape = "x".join(map(str, d["image_shape"]))
        click.echo(f"{name:18} {d['kind']:10} {shape:9} {sizes:22} {','.join(d['fields']):34} {state}")


@datasets.command("show")
@click.argument("name")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="PNG file to write.")
@click.option("--split", default="train", show_default=True)
@click.option("-n", "--n", "count", type=click.IntRange(min=1), default=16, show_default=True, help="Number of images in the grid.")
@click.option("--seed", default=0, show_default=True, help="Dataset generation seed.")
def datasets_show(name: str, out: str, split: str, count: int, seed: int) -> None:
    """Draw a grid of NAME's images with masks and boxes overlaid."""
    from .data import DATASETS, get_dataset
    from .data.preview import preview_grid

    # a real dataset reads only the first images; a synthetic one is built whole (cheap, and
    # its first images depend on the split size)
    limit = count if DATASETS.get(name).kind == "real" else None
    ds = get_dataset(name, split, n=limit, seed=seed)
    path = preview_grid(ds, n=min(count, len(ds)), out_path=Path(out))
    click.echo(f"wrote {path}")


@datasets.command("prepare")
@click.argument("name")
@click.option("--n-train", type=click.IntRange(min=1), default=None, help="Training-split size (default: the dataset's).")
@click.option("--n-test", type=click.IntRange(min=1), default=None, help="Test-split size (default: the dataset's).")
@click.option("--seed", default=0, show_default=True)
def datasets_prepare(name: str, n_train: Optional[int], n_test: Optional[int], seed: int) -> None:
    """Build every split of NAME (train, test, and val where it has one) and cache it."""
    from .data import DATASETS, get_dataset

    sizes = {"train": n_train, "test": n_test}
    for split in DATASETS.get(name).describe()["sizes"]:
        n = sizes.get(split)
        ds = get_dataset(name, split, n=n, seed=seed)
        click.echo(f"{name}/{split}: {len(ds)} images {'x'.join(map(str, ds.image_shape))} -> {ds.info.get('cache')}")


# ---------------------------------------------------------------------------- train
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


@main.command("train")
@click.argument("model")
@click.option("--dataset", required=True, help="Dataset name (see `factorbench datasets list`).")
@click.option("--preset", default="quick", show_default=True, help="Training preset of the model (ci, quick, paper).")
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
def train_cmd(ctx, model, dataset, preset, seed, out, resume, sets, epochs, batch_size, checkpoint_every, n_train,
              init_from, image_size, device):
    """Train MODEL on DATASET; checkpoints, config.json and losses.csv go to --out."""
    from .config import config_from_dict
    from .device import resolve_device
    from .models import MODELS
    from .train import TrainConfig, TrainRun, train

    cls = MODELS.get(model)
    if preset not in cls.train_presets:
        raise FactorbenchError(f"model {model} has no training preset {preset!r}; presets: {', '.join(cls.train_presets)}")
    values = dict(cls.train_presets[preset])
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("checkpoint_every", checkpoint_every)):
        if value is not None:
            values[key] = value
    train_config = config_from_dict(TrainConfig, values, where="train")
    config_from_dict(cls.config_class, _parse_sets(sets), where=f"model {model}")  # a bad --set fails before any data is built
    folder = Path(out) if out else Path("runs") / "train" / f"{model}-{dataset}-seed{seed}"
    image_shape = None
    if init_from:
        from .models.checkpoint import read_run_config
        image_shape = read_run_config(Path(init_from))["image_shape"]
        if image_size is not None and tuple(image_shape[1:]) != (image_size, image_size):
            raise FactorbenchError(f"--image-size {image_size} disagrees with --init-from, which was trained at "
                                   f"{image_shape[1]}x{image_shape[2]} (the images are converted to its shape)")
    elif image_size is not None:
        from .data import DATASETS
        image_shape = [DATASETS.get(dataset).describe()["image_shape"][0], image_size, image_size]
    run = TrainRun(model, _parse_sets(sets), dataset, folder, seed=seed, train=train_config, dataset_n=n_train,
                   init_from=Path(init_from) if init_from else None, image_shape=image_shape)
    train(run, device=resolve_device(device), resume=resume, progress=progress_enabled(ctx))
    click.echo(f"trained {model} on {dataset} -> {folder}")


# ---------------------------------------------------------------------------- bench
@main.group(cls=Group)
def bench() -> None:
    """Run benchmarks: one thesis table each (see benchmarks/)."""


@bench.command("list")
def bench_list() -> None:
    """Show the benchmark specs and their presets."""
    from .bench.spec import load_spec, spec_names

    for name in spec_names():
        spec = load_spec(name)
        click.echo(f"{name:24} [{', '.join(spec.presets)}]  {spec.title}")


@bench.command("run")
@click.argument("spec")
@click.option("--preset", default="quick", show_default=True, type=click.Choice(["ci", "quick", "paper"]))
@click.option("--seeds", type=click.IntRange(min=1), default=None, help="Number of seeds (default: the preset's).")
@click.option("--workdir", type=click.Path(file_okay=False), default=None, help="Checkpoints (default: ./runs).")
@click.option("--results", type=click.Path(file_okay=False), default=None, help="Records and tables (default: ./results).")
@click.option("--thesis/--no-thesis", default=None, help="Show the thesis's numbers beside ours (default: paper preset only).")
@device_option
@click.option("--executor", default="local", show_default=True, type=click.Choice(["local", "ray"]),
              help="local: this machine (see --jobs); ray: one Ray task per cell (see --address).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Local executor: cells run at once (1: in this process; N: a pool of N processes).")
@click.option("--address", default=None, metavar="ADDR",
              help="Ray cluster to use, e.g. ray://head:10001 (default: start Ray on this machine).")
@click.option("--cpus-per-job", type=float, default=1, show_default=True,
              help="CPUs each cell asks Ray for (locally: torch threads per pool worker).")
@click.option("--gpus-per-job", type=float, default=0, show_default=True, help="GPUs each cell asks Ray for.")
@click.option("--report", "report_dir", is_flag=False, flag_value="", default=None, metavar="[DIR]",
              help="Also write the HTML report of this benchmark (default DIR: <results>/report/<preset>).")
@click.option("--json", "as_json", is_flag=True, help="Print the spec's records as a JSON list instead of the table.")
@click.pass_context
def bench_run(ctx, spec, preset, seeds, workdir, results, thesis, device, executor, jobs, address, cpus_per_job,
              gpus_per_job, report_dir, as_json):
    """Train what is missing, evaluate, append records, and write SPEC's table.

    Finished cells are skipped, so re-running the same command completes an interrupted
    grid. A failed cell does not stop the others; the tables are written from whatever
    records exist (missing values show as "—") and the command exits 1. With --executor
    ray, --workdir, --results and --data-root must be on storage every node shares.
    """
    from .bench.output import write_tables
    from .bench.runner import RunOptions, run_grid
    from .bench.spec import load_spec
    from .device import resolve_device
    from .paths import default_results_dir, default_workdir

    s = load_spec(spec)
    # on Ray, each worker picks cuda when its node gave it a GPU (the driver may have none)
    dev = "auto" if executor == "ray" and device is None else resolve_device(device)
    opts = RunOptions(preset, Path(workdir) if workdir else default_workdir(),
                      Path(results) if results else default_results_dir(), seeds, dev,
                      progress_enabled(ctx), executor=executor, jobs=jobs, address=address,
                      cpus_per_job=cpus_per_job, gpus_per_job=gpus_per_job)
    report = run_grid(s, opts)
    show = (preset == "paper") if thesis is None else thesis
    try:
        paths = write_tables(s, preset, opts.results, show_thesis=show)
    except FactorbenchError:
        if not report.failed:
            raise
        paths = None  # no record at all: every cell failed
    if as_json:
        from .bench.output import records_of_spec
        from .bench.store import read_records

        print_records(records_of_spec(s, preset, read_records(opts.results, s.name, preset)))
    if paths:
        if not as_json:
            click.echo(paths["md"].read_text())
        click.echo("tables: " + ", ".join(str(p) for p in paths.values()), err=as_json)
        if not as_json:
            echo_findings(s.name, preset, opts.results)
        if report_dir is not None:
            from .report.site import build_report

            out = Path(report_dir) if report_dir else opts.results / "report" / preset
            click.echo(f"report: {build_report([s.name], preset, opts.results, out)}", err=as_json)
    for r in report.failed:
        click.echo(f"failed: {r.label}: {r.error}", err=True)
        if r.traceback and not ctx.obj.get("quiet"):
            click.echo(r.traceback.rstrip(), err=True)
    click.echo(report.summary(), err=True)
    if report.failed:
        raise FactorbenchError(report.failure_message())


@main.command("table")
@click.argument("spec")
@click.option("--preset", default="quick", show_default=True, type=click.Choice(["ci", "quick", "paper"]))
@click.option("--format", "fmt", default="md", show_default=True, type=click.Choice(["md", "latex", "csv"]))
@click.option("--results", type=click.Path(file_okay=False), default=None, help="Records and tables (default: ./results).")
@click.option("--thesis/--no-thesis", default=None, help="Show the thesis's numbers beside ours (default: paper preset only).")
@click.option("--json", "as_json", is_flag=True, help="Print the table's records as a JSON list instead.")
def table_cmd(spec, preset, fmt, results, thesis, as_json):
    """Rebuild SPEC's paper-style table from stored records and print it."""
    from .bench.output import records_of_spec, write_tables
    from .bench.spec import load_spec
    from .bench.store import read_records
    from .paths import default_results_dir

    s = load_spec(spec)
    show = (preset == "paper") if thesis is None else thesis
    folder = Path(results) if results else default_results_dir()
    paths = write_tables(s, preset, folder, formats=[fmt], show_thesis=show)
    if as_json:
        print_records(records_of_spec(s, preset, read_records(folder, s.name, preset)))
        return
    click.echo(paths[fmt].read_text())
    if fmt == "md":
        echo_findings(s.name, preset, folder)


@main.command("findings")
@click.argument("specs", nargs=-1)
@click.option("--preset", default="quick", show_default=True, type=click.Choice(["ci", "quick", "paper"]))
@click.option("--results", type=click.Path(file_okay=False), default=None, help="Records (default: ./results).")
@click.option("--file", "path", type=click.Path(dir_okay=False), default=None,
              help="Findings file (default: results/thesis/findings.toml).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as a JSON list.")
def findings_cmd(specs, preset, results, path, as_json):
    """Check the thesis's findings against stored records: claim, thesis, ours, verdict.

    SPECS limits the findings to those benchmarks (default: every finding). Verdicts come
    from records only (see factorbench/bench/findings.py): holds, holds but not significant,
    fails but not significant, contradicted, or not measured (missing records, one seed).
    """
    import json

    from .bench.findings import check_findings, load_findings, render_markdown, select
    from .bench.spec import load_spec
    from .paths import default_results_dir

    for name in specs:
        load_spec(name)  # an unknown benchmark is one line
    chosen = select(load_findings(Path(path) if path else None), list(specs))
    if not chosen:
        raise FactorbenchError("no findings for " + ", ".join(specs))
    out = check_findings(chosen, preset, Path(results) if results else default_results_dir())
    if as_json:
        click.echo(json.dumps([r.to_json() for r in out], indent=2, ensure_ascii=False))
    else:
        click.echo(render_markdown(out))


@main.command("report")
@click.argument("specs", nargs=-1)
@click.option("--preset", default="quick", show_default=True, type=click.Choice(["ci", "quick", "paper"]))
@click.option("--results", type=click.Path(file_okay=False), default=None, help="Records and figures (default: ./results).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Site folder (default: <results>/report/<preset>).")
def report_cmd(specs, preset, results, out):
    """Write an HTML report (tables, findings, protocol cards, plots, figures) from stored results.

    It trains nothing: it reads the records, the checkpoints' losses.csv and the figures the
    evaluators wrote. Open OUT/index.html in a browser; no server is needed.
    """
    from .paths import default_results_dir
    from .report.site import build_report

    res = Path(results) if results else default_results_dir()
    index = build_report(list(specs), preset, res, Path(out) if out else res / "report" / preset)
    click.echo(f"report: {index}")


def echo_findings(spec_name: str, preset: str, results: Path) -> None:
    """Print a table's findings under it (nothing when the findings file has none)."""
    from .bench.findings import findings_block

    try:
        block = findings_block(spec_name, preset, results)
    except FactorbenchError as exc:  # the table is written; a findings problem must not fail the run
        click.echo(f"warning: findings not checked: {exc}", err=True)
        return
    if block:
        click.echo(block)


# ---------------------------------------------------------------------------- run
from .cli_run import run  # noqa: E402  (the `run` group lives in its own module)

main.add_command(run)


# ---------------------------------------------------------------------------- regress
@main.command("regress")
@click.option("--update", is_flag=True, help="Rewrite the baselines from this run instead of comparing.")
@click.option("--bench", "names", multiple=True,
              help="Only these benchmarks; 'metrics': the metric goldens (default: the goldens and every ci preset).")
@click.option("--baselines", type=click.Path(file_okay=False), default=None, help="Baseline folder (default: results/baselines).")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Checkpoints, as bench run's --workdir (default: a fresh temporary folder). Finished runs found "
                   "there are reused; values are always re-evaluated.")
@device_option
@click.option("--json", "as_json", is_flag=True,
              help="Print one record per compared value (benchmark, model, row, metric, baseline, now, tol, refused, status).")
@click.pass_context
def regress_cmd(ctx, update, names, baselines, workdir, device, as_json):
    """Check the metric goldens and re-run the ci preset of each benchmark against the stored baselines.

    Exits 3 and prints a diff table when a value moved by more than its tolerance (see
    factorbench/bench/regress.py and goldens.py for the tolerances and the values refused
    because their band reaches chance); exit 1 is a user error, anything else a crash.
    """
    from .bench.regress import diff_table, read_baseline, regress_names, run_regress
    from .device import resolve_device
    from .paths import baselines_dir

    base_dir = Path(baselines) if baselines else baselines_dir()
    drifts, written = run_regress(regress_names(names), base_dir, Path(workdir) if workdir else None,
                                  resolve_device(device), progress_enabled(ctx), update)
    for path in written:
        refused = read_baseline(path).get("refused", [])
        click.echo(f"updated {path}" + (f" ({len(refused)} values refused: at chance)" if refused else ""))
        for r in refused:
            click.echo(f"  refused: {r['model']} {r['row']} {r['metric']}: {r['reason']}")
    if update:
        return
    if as_json:
        print_records({**dataclasses.asdict(d), "status": d.status} for d in drifts)
    else:
        click.echo(diff_table(drifts))
    bad = [d for d in drifts if d.failed]
    refused = len([d for d in drifts if d.refused])
    note = f" ({refused} refused: at chance, not checked)" if refused else ""
    if bad:
        click.echo(f"regress: {len(bad)} of {len(drifts)} values drifted or are missing{note}", err=True)
        sys.exit(EXIT_DRIFT)
    click.echo(f"regress: all {len(drifts) - refused} checked values within tolerance{note}", err=as_json)


if __name__ == "__main__":
    main()
