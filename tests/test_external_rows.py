"""A dataset grid, column groups (Tables 5.3/5.4 layout) and external sample-folder rows."""

import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from factorbench.bench.external import FolderSamples, evaluate_external
from factorbench.bench.output import records_of_spec
from factorbench.bench.run_options import RunOptions
from factorbench.bench.spec import load_spec
from factorbench.bench.store import read_records
from factorbench.bench.tables import build_table, render_markdown
from factorbench.errors import FactorbenchError
from factorbench.evaluators.base import MetricValue, register_evaluator


@register_evaluator("test_mean_sample", {"mean_sample_pixel": "none"})
def mean_sample(ctx, n=4):
    """A cheap sample-based metric standing in for FID in these tests."""
    return [MetricValue("mean_sample_pixel", float(ctx.model.sample(n).mean()), {"n": n})]


def write_spec(tmp_path, external="{root}/{{dataset}}"):
    path = tmp_path / "fidlike.toml"
    path.write_text(textwrap.dedent(f"""
        name = "fidlike"
        title = "FID-like, datasets as column groups"
        [base]
        models = ["sngan", "bfvae_lsr_gan"]
        pretrain = {{ bfvae_lsr_gan = "bfvae_ef", bfvae_ef = "bfvae" }}
        metrics = ["test_mean_sample"]
        dataset = {{ name = "shapes-fb", n_train = 8, n_test = 8 }}
        grid = {{ dataset = ["shapes-fb", "shapes-fb-black"] }}
        model = {{ zf_dim = 4, zb_dim = 4, latent_dim = 8, base_channels = 4 }}
        external = {{ finegan = "{external.format(root=tmp_path / 'samples')}" }}
        external_metrics = ["test_mean_sample"]
        [presets.ci]
        seeds = 1
        [table]
        rows = "model"
        columns = ["mean_sample_pixel"]
        column_groups = "dataset"
    """))
    return load_spec(str(path))


def write_folder(folder, value, n=6):
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), value, dtype=np.uint8)).save(folder / f"{i:03d}.png")


def test_dataset_grid_renames_the_dataset_and_chains_stages(tmp_path):
    spec = write_spec(tmp_path)
    cells = spec.cells("ci")
    assert {(c.model, c.dataset.name) for c in cells} == {
        (m, d) for m in ("sngan", "bfvae_lsr_gan") for d in ("shapes-fb", "shapes-fb-black")}
    gan = next(c for c in cells if c.model == "bfvae_lsr_gan" and c.dataset.name == "shapes-fb-black")
    assert gan.init_from.model == "bfvae_ef" and gan.init_from.init_from.model == "bfvae"
    assert gan.init_from.init_from.dataset.name == "shapes-fb-black"
    assert "dataset" not in gan.model_config and gan.model_config["zf_dim"] == 4
    sngan = next(c for c in cells if c.model == "sngan")
    assert "zf_dim" not in sngan.model_config and sngan.model_config["latent_dim"] == 8


def test_external_rows_are_evaluated_recorded_and_tabled(tmp_path):
    spec = write_spec(tmp_path)
    write_folder(tmp_path / "samples" / "shapes-fb", 51)
    write_folder(tmp_path / "samples" / "shapes-fb-black", 102)
    opts = RunOptions(preset=spec.preset("ci"), workdir=tmp_path / "work", results=tmp_path / "results", progress=False)
    assert evaluate_external(spec, opts) == 2
    assert evaluate_external(spec, opts) == 0  # recorded: not evaluated again
    records = records_of_spec(spec, spec.preset("ci"), read_records(opts.results, spec.name, "ci"))
    assert {(r["model"], r["grid"]["dataset"], round(r["value"], 3)) for r in records} == {
        ("finegan", "shapes-fb", 0.2), ("finegan", "shapes-fb-black", 0.4)}
    md = render_markdown(build_table(spec, spec.preset("ci"), records, show_thesis=False))
    header = next(line for line in md.splitlines() if line.startswith("| model"))
    assert "mean_sample_pixel shapes-fb |" in header and "mean_sample_pixel shapes-fb-black |" in header
    assert "| finegan | 0.200 | 0.400 |" in md


def test_folder_samples_errors(tmp_path):
    write_folder(tmp_path / "few", 0, n=3)
    samples = FolderSamples("lr_gan", tmp_path / "few")
    assert samples.sample(2).shape == (2, 3, 8, 8)
    with pytest.raises(FactorbenchError, match="holds 3 images"):
        samples.sample(2)
    with pytest.raises(FactorbenchError, match="cannot reconstruct"):
        samples.reconstruct(torch.zeros(1, 3, 8, 8))
    with pytest.raises(FactorbenchError, match="no image files"):
        (tmp_path / "empty").mkdir()
        FolderSamples("x", tmp_path / "empty")
