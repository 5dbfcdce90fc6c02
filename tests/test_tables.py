"""Table aggregation against hand-computed numbers, bolding, missing cells, thesis column."""

import math
import textwrap

import pytest

from factorbench.bench.spec import load_spec
from factorbench.bench.tables import aggregate, build_table, render_csv, render_latex, render_markdown


def rec(model, beta, metric, seed, value):
    return {"model": model, "grid": {"beta": beta}, "metric": metric, "seed": seed, "value": value,
            "dataset": {"name": "toy", "n_train": 10, "n_test": 5, "seed": 0},
            "protocol": {"definition": "a test metric"}}


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(textwrap.dedent("""
        name = "toy"
        title = "Toy table"
        [base]
        models = ["vae"]
        metrics = ["recon_mse", "probe_linear"]
        dataset = { name = "digits-rgb" }
        grid = { beta = [0.5, 1.0, 2.0] }
        [presets.ci]
        seeds = 3
        [table]
        rows = "beta"
        row_label = "β"
        columns = ["recon_mse", "probe_linear_test_acc"]
        thesis = "3.1"
        labels = { recon_mse = "MSE" }
    """))
    return load_spec(str(path))


def records():
    out = []
    for seed, v in enumerate([1.0, 2.0, 3.0]):  # mean 2, std 1, stderr 1/sqrt(3)
        out.append(rec("vae", 0.5, "recon_mse", seed, v))
    for seed, v in enumerate([10.0, 14.0]):  # mean 12, std 2*sqrt(2)
        out.append(rec("vae", 1.0, "recon_mse", seed, v))
    for seed, v in enumerate([0.5, 0.7]):  # 50 %, 70 % -> mean 60 %, std 14.14 %
        out.append(rec("vae", 0.5, "probe_linear_test_acc", seed, v))
    out.append(rec("vae", 1.0, "probe_linear_test_acc", 0, 0.9))  # one seed: no spread
    return out


def test_aggregate_hand_computed():
    stats = aggregate(records(), "beta").set_index(["row", "metric"])
    a = stats.loc[(0.5, "recon_mse")]
    assert a["mean"] == 2.0 and a["std"] == 1.0 and a["n"] == 3
    assert a["stderr"] == pytest.approx(1 / math.sqrt(3))
    b = stats.loc[(1.0, "recon_mse")]
    assert b["mean"] == 12.0 and b["std"] == pytest.approx(2 * math.sqrt(2))
    assert math.isnan(stats.loc[(1.0, "probe_linear_test_acc")]["std"])


def test_markdown_bolds_best_by_direction_and_marks_missing(spec):
    md = render_markdown(build_table(spec, spec.preset("ci"), records(), show_thesis=False))
    lines = [l for l in md.splitlines() if l.startswith("|")]
    assert lines[0] == "| β | MSE | probe_linear_test_acc (%) |"
    assert lines[2] == "| 0.5 | **2.00 ± 1.00** | 60.00 ± 14.14 (2/3 seeds) |"  # lower MSE is better
    # cells with fewer seeds than the table say so and are never bold (issue 18, item 6)
    assert lines[3] == "| 1.0 | 12.00 ± 2.83 (2/3 seeds) | 90.00 (1/3 seeds) |"
    complete = [r for r in records() if r["metric"] == "probe_linear_test_acc"]
    complete += [rec("vae", 1.0, "probe_linear_test_acc", s, 0.9) for s in (1, 2)]
    complete += [rec("vae", 0.5, "probe_linear_test_acc", 2, 0.6)]
    md_complete = render_markdown(build_table(spec, spec.preset("ci"), complete, show_thesis=False))
    assert "| 1.0 | — | **90.00 ± 0.00** |" in md_complete  # higher accuracy is better
    assert "over 3 seed(s) (0, 1, 2)" in md and "recon_mse: a test metric." in md


def test_stderr_spread(spec):
    spec.table.spread = "stderr"
    md = render_markdown(build_table(spec, spec.preset("ci"), records(), show_thesis=False))
    assert "**2.00 ± 0.58**" in md and "standard error" in md


def test_missing_cell_is_a_dash(spec):
    recs = records() + [rec("vae", 2.0, "recon_mse", 0, 5.0)]
    md = render_markdown(build_table(spec, spec.preset("ci"), recs, show_thesis=False))
    assert "| 2.0 | 5.00 (1/3 seeds) | — |" in md


def test_thesis_numbers_beside_ours(spec):
    table = build_table(spec, spec.preset("ci"), records(), show_thesis=True)
    md = render_markdown(table)
    header = [l for l in md.splitlines() if l.startswith("|")][0]
    # the thesis measured Table 3.1 on CIFAR-10 at paper scale; this is a toy set in ci
    assert "MSE (thesis, CIFAR-10, paper scale)" in header
    assert "| 0.5 | **2.00 ± 1.00** | 53.80 |" in md  # Table 3.1: VAE MSE at β = 0.5 is 53.80
    csv = render_csv(table)
    assert "0.5,vae,,recon_mse,2.0,1.0," in csv


def test_thesis_column_says_when_data_and_scale_are_the_thesis_own():
    from factorbench.bench.thesis import thesis_label

    assert thesis_label("3.1", "paper", {"cifar10"}) == "thesis"
    assert thesis_label("3.1", "quick", {"cifar10"}) == "thesis, paper scale"
    assert thesis_label("5.3", "paper", {"cub", "cars"}) == "thesis"
    assert thesis_label("6.1", "paper", {"multi-digits"}) == "thesis, Multi-MNIST"


def test_latex_escapes_and_bolds(spec):
    tex = render_latex(build_table(spec, spec.preset("ci"), records(), show_thesis=False))
    assert r"\textbf{2.00 $\pm$ 1.00}" in tex
    assert r"probe\_linear\_test\_acc (\%)" in tex
    assert tex.count(r"\\") >= 3


def test_fid_protocol_is_printed_in_the_caption(spec):
    recs = [dict(rec("vae", 0.5, "fid_saved", s, v), protocol={"definition": "FID, saved mode: 8 fake / 8 real images "
                                                                "at 32x32; Inception sha1 a16e4d89c0ec"})
            for s, v in enumerate([40.0, 42.0])]
    spec.table.columns = ["fid_saved"]
    md = render_markdown(build_table(spec, spec.preset("ci"), recs, show_thesis=False))
    assert "fid_saved: FID, saved mode: 8 fake / 8 real images at 32x32; Inception sha1 a16e4d89c0ec." in md
    assert "**41.00 ± 1.41**" in md  # lower FID is better, and the only row is the best


def test_rows_can_be_target_datasets(tmp_path):
    """Table 4.1's layout: one model, rows = the datasets its values are about."""
    from factorbench.bench.store import make_record, read_records, write_record

    for seed, value in ((0, 1.0), (1, 3.0)):
        for target in ("mnist", "coco"):
            write_record(tmp_path, make_record(
                benchmark="b", preset="ci", cell_id=f"c{seed}", metric="kl_prior", value=value + (target == "coco"),
                model="vae", dataset={"name": "coco"}, hparams={}, train={}, grid={}, seed=seed, protocol={},
                checkpoint="", target=target))
    records = read_records(tmp_path, "b", "ci")
    assert len(records) == 4  # one file per (cell, metric, target)
    stats = aggregate(records, "target").set_index("row")
    assert stats.loc["mnist", "mean"] == 2.0 and stats.loc["coco", "mean"] == 3.0
    # a value without a target is about the cell's own dataset
    own = aggregate([{**records[0], "target": None}], "target")
    assert list(own["row"]) == [records[0]["dataset"]["name"]]


def test_collapse_replaces_the_numbers_and_rows_can_be_models(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(textwrap.dedent("""
        name = "m"
        title = "Models as rows"
        [base]
        models = ["vae", "lsr_gan"]
        metrics = ["recon_mse", "samples"]
        dataset = { name = "digits-rgb" }
        [presets.ci]
        [table]
        rows = "model"
        columns = ["recon_mse"]
        collapse = "collapsed"
    """))
    spec = load_spec(str(path))
    recs = []
    for model, value, flags in (("vae", 50.0, (0, 0)), ("lsr_gan", 90.0, (1, 1))):
        for seed, flag in enumerate(flags):
            recs.append({**rec(model, None, "recon_mse", seed, value + seed), "grid": {}})
            recs.append({**rec(model, None, "collapsed", seed, float(flag)), "grid": {}})
    table = build_table(spec, spec.preset("ci"), recs, show_thesis=False)
    assert table.rows == ["vae", "lsr_gan"]
    md = render_markdown(table)
    assert "| vae | **50.50 ± 0.71** |" in md and "| lsr_gan | collapse |" in md
    assert "lsr_gan,,recon_mse,90.5" in render_csv(table).replace("Model,", "")  # the CSV keeps the numbers


def test_tables_show_only_the_current_cells_of_the_spec():
    from factorbench.bench.output import records_of_spec

    spec = load_spec("vae_beta_sweep")
    cell = spec.cells("ci")[0]
    current = {**rec("vae", cell.grid["beta"], "recon_mse", cell.seed, 1.0), "cell": cell.id}
    stale = {**rec("vae", cell.grid["beta"], "recon_mse", cell.seed, 9.0), "cell": "0123456789ab"}
    assert records_of_spec(spec, spec.preset("ci"), [current, stale]) == [current]
    seed5 = spec.cells("ci", seeds=6)[5]
    later = {**rec("vae", seed5.grid["beta"], "recon_mse", 5, 2.0), "cell": seed5.id}
    assert records_of_spec(spec, spec.preset("ci"), [current, later]) == [current, later]  # --seeds N runs count


# --------------------------------------------------------------------------- NaN and bad records (issue 18, items 6, 9)

def test_nan_value_is_shown_and_the_seed_count_is_true(spec):
    recs = [rec("vae", 0.5, "recon_mse", s, v) for s, v in enumerate([1.0, float("nan"), 3.0])]
    recs += [rec("vae", 1.0, "recon_mse", s, v) for s, v in enumerate([5.0, 6.0, 7.0])]
    recs += [rec("vae", 2.0, "recon_mse", s, None) for s in range(3)]  # null: could not be computed
    table = build_table(spec, spec.preset("ci"), recs, show_thesis=False)
    md = render_markdown(table)
    # before: "| 0.5 | **2.00 ± 1.41** |", bold and as if complete, caption "over 3 seed(s)"
    assert "| 0.5 | 2.00 ± 1.41 (2/3 seeds; 1 NaN) | — |" in md
    assert "| 1.0 | **6.00 ± 1.00** | — |" in md  # the best complete row is bold
    assert "| 2.0 | NaN (0/3 seeds; 3 NaN) | — |" in md
    assert "over 3 seed(s)" in md
    csv = render_csv(table).splitlines()
    header = csv[0].split(",")
    row = dict(zip(header, next(l for l in csv if l.startswith("β,0.5,vae,,recon_mse")).split(",")))
    assert (row["n"], row["n_nan"], row["seeds_expected"]) == ("2", "1", "3")


def test_record_value_that_is_not_a_number_is_one_line(spec):
    with pytest.raises(Exception, match=r"value must be a number, found 'x'") as excinfo:
        build_table(spec, spec.preset("ci"), [rec("vae", 0.5, "recon_mse", 0, "x")], show_thesis=False)
    assert "\n" not in str(excinfo.value)


@pytest.mark.parametrize("content,message", [
    ('{"note": "look at seed 2"}', r"notes.json is not a result record \(expected a JSON object with cell, metric"),
    ('[1, 2]', r"a.recon_mse.json is not a result record"),
    ('{"cell": "a", "metric": "recon_mse", "value": "1.5", "model": "vae", "seed": 0}',
     r"a.recon_mse.json: 'value' must be a number \(null or NaN .*\), found '1.5'"),
    ('{"cell": "a", "metric": "recon_mse", "model": "vae", "seed": 0}', r"is not a result record"),
    ('{"cell": "a", "metric": "recon_mse", "value": 1.0, "model": "vae", "seed": "0"}',
     r"'seed' must be a whole number, found '0'"),
])
def test_stray_or_malformed_record_files_are_one_line(tmp_path, content, message):
    from factorbench.bench.store import read_records, records_dir
    from factorbench.errors import FactorbenchError

    folder = records_dir(tmp_path, "b", "ci")
    folder.mkdir(parents=True)
    name = "notes.json" if "note" in content else "a.recon_mse.json"
    (folder / name).write_text(content)
    with pytest.raises(FactorbenchError, match=message) as excinfo:
        read_records(tmp_path, "b", "ci")
    assert "\n" not in str(excinfo.value) and name in str(excinfo.value)
