import textwrap

import pytest

from factorbench.bench.spec import load_spec, spec_names
from factorbench.errors import FactorbenchError


def write(tmp_path, body):
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(body))
    return str(path)


BASE = """
    name = "s"
    title = "S"
    [base]
    models = ["vae"]
    seeds = 2
    metrics = ["recon_mse"]
    dataset = { name = "digits-rgb", n_train = 100 }
    model = { latent_dim = 8 }
    grid = { beta = [1.0, 2.0] }
    [presets.ci]
    dataset = { n_test = 50 }
    model = { beta = 3.0 }
    grid = { latent_dim = [4, 6] }
    [presets.quick]
    seeds = 1
    [table]
    rows = "beta"
    columns = ["recon_mse"]
"""


def test_presets_merge_over_base(tmp_path):
    spec = load_spec(write(tmp_path, BASE))
    ci = spec.preset("ci")
    assert ci.dataset == {"name": "digits-rgb", "n_train": 100, "n_test": 50}
    assert ci.grid == {"beta": [1.0, 2.0], "latent_dim": [4, 6]}
    cells = spec.cells("ci")
    assert len(cells) == 2 * 2 * 2
    assert {c.model_config["latent_dim"] for c in cells} == {4, 6}
    assert len({c.id for c in cells}) == 8
    assert len(spec.cells("quick")) == 2 and len(spec.cells("quick", seeds=3)) == 6


def test_unknown_keys_and_presets_are_errors(tmp_path):
    with pytest.raises(FactorbenchError, match="unknown key"):
        load_spec(write(tmp_path, BASE.replace("seeds = 2", "seed = 2")))
    with pytest.raises(FactorbenchError, match="unknown preset"):
        load_spec(write(tmp_path, BASE.replace("[presets.quick]", "[presets.fast]")))
    with pytest.raises(FactorbenchError, match="no benchmark 'nope'"):
        load_spec("nope")
    with pytest.raises(FactorbenchError, match="has no preset 'paper'"):
        load_spec(write(tmp_path, BASE)).cells("paper")
    with pytest.raises(FactorbenchError, match="'name' is not a preset setting"):
        load_spec(write(tmp_path, BASE.replace("seeds = 1", "seeds = 1\n    name = \"fast\"")))


def test_a_resolved_preset_knows_its_name_and_expands_like_its_name(tmp_path):
    spec = load_spec(write(tmp_path, BASE))
    quick = spec.preset("quick")
    assert quick.name == "quick" and spec.preset("ci").name == "ci"
    assert [c.id for c in spec.cells(quick, seeds=2)] == [c.id for c in spec.cells("quick", seeds=2)]


def test_every_shipped_spec_loads_and_expands():
    assert spec_names(), "no benchmark specs shipped"
    for name in spec_names():
        spec = load_spec(name)
        for preset in spec.presets:
            assert spec.cells(preset)


def test_variants_train_a_registered_model_under_their_own_name(tmp_path):
    spec = load_spec(write(tmp_path, """
        name = "v"
        title = "V"
        [base]
        models = ["said", "said_no_alpha"]
        variants = { said_no_alpha = { model = "said", alpha = false } }
        metrics = ["object_discovery"]
        dataset = { name = "multi-digits" }
        model = { glimpses = 3 }
        [presets.ci]
        seeds = 1
        [table]
        rows = "model"
        columns = ["ap_spair"]
    """))
    plain, ablated = spec.cells("ci")
    assert (plain.model, plain.registered) == ("said", "said")
    assert (ablated.model, ablated.registered) == ("said_no_alpha", "said")
    assert ablated.model_config == {"glimpses": 3, "alpha": False} and plain.model_config == {"glimpses": 3}
    assert plain.id != ablated.id
    with pytest.raises(FactorbenchError, match="alpha_channel"):  # at load: every cell's config is checked
        load_spec(write(tmp_path, """
        name = "v"
        title = "V"
        [base]
        models = ["said", "x"]
        variants = { x = { model = "said", alpha_channel = false } }
        metrics = ["object_discovery"]
        dataset = { name = "multi-digits" }
        [presets.ci]
        [table]
        rows = "model"
        columns = ["ap_spair"]
    """))


# --------------------------------------------------------------------------- bad specs: one line at load
# (issue 18, items 2, 7 and 9)

def _one_line(excinfo) -> str:
    assert "\n" not in str(excinfo.value)
    return str(excinfo.value)


@pytest.mark.parametrize("name", ["../../x", "/tmp/x", "a/b", "..", ".hidden", "", "a\\b"])
def test_spec_name_that_would_leave_the_results_folder_is_refused(tmp_path, name):
    with pytest.raises(FactorbenchError, match=r"s.toml: name must be a plain name") as excinfo:
        load_spec(write(tmp_path, BASE.replace('name = "s"', f"name = {name!r}".replace("'", '"'))))
    _one_line(excinfo)


def test_variant_model_and_target_names_become_paths_so_are_checked(tmp_path):
    variant = BASE.replace('models = ["vae"]', 'models = ["../v"]\nvariants = { "../v" = { model = "vae" } }')
    with pytest.raises(FactorbenchError, match=r"model name must be a plain name.*'\.\./v'"):
        load_spec(write(tmp_path, variant))
    from factorbench.bench.store import record_path

    with pytest.raises(FactorbenchError, match=r"record target must be a plain name"):
        record_path(tmp_path, "s", "ci", "abc", "transfer_acc", target="../../etc")


def test_unknown_table_column_and_metric_are_errors_at_load(tmp_path):
    with pytest.raises(FactorbenchError, match=r"s.toml table: column 'recon_msee' is no value of the spec's metrics "
                                               r"\(they produce: recon_mse\)"):
        load_spec(write(tmp_path, BASE.replace('columns = ["recon_mse"]', 'columns = ["recon_msee"]')))
    with pytest.raises(FactorbenchError, match=r"preset ci: unknown metric 'recon_mze'"):
        load_spec(write(tmp_path, BASE.replace('metrics = ["recon_mse"]', 'metrics = ["recon_mze"]')))


def test_spec_without_models_says_which_key_is_missing(tmp_path):
    with pytest.raises(FactorbenchError, match=r"s.toml preset ci: missing key\(s\) models") as excinfo:
        load_spec(write(tmp_path, BASE.replace('models = ["vae"]', "")))
    _one_line(excinfo)


def test_bad_grid_values_and_ranges_are_errors_at_load(tmp_path):
    with pytest.raises(FactorbenchError, match=r"preset ci model vae\.beta: expected a number, got 'x'"):
        load_spec(write(tmp_path, BASE.replace("grid = { beta = [1.0, 2.0] }", 'grid = { beta = ["x"] }')))
    with pytest.raises(FactorbenchError, match=r"preset ci model vae .*: vae: lr must not be negative, got -1\.0"):
        load_spec(write(tmp_path, BASE.replace("model = { latent_dim = 8 }", "model = { latent_dim = 8, lr = -1 }")))


def test_dataset_given_as_a_string_says_a_table_is_expected(tmp_path):
    body = BASE.replace('dataset = { name = "digits-rgb", n_train = 100 }', 'dataset = "digits-rgb"')
    body = body.replace("dataset = { n_test = 50 }\n", "")
    with pytest.raises(FactorbenchError, match=r"preset ci.dataset: expected a table (of settings )?\(key = value\), "
                                               r"got 'digits-rgb'") as excinfo:
        load_spec(write(tmp_path, body))
    assert "unknown key" not in _one_line(excinfo)


def test_bfvae_fid_paper_trains_on_all_of_cub_and_scores_10k_against_the_training_data():
    """Thesis §5.4.2: "the whole dataset of CUB, the training set of Stanford cars and 12000
    images from Stanford dogs"; "FID on 10K randomly generated images"."""
    from factorbench.bench.spec import dataset_key

    for name, cub in (("bfvae_fid", "cub"), ("bfvae_fid_128", "cub-128")):
        spec = load_spec(name)
        splits = {c.dataset.name: c.dataset.train_split for c in spec.cells("paper")}
        assert splits[cub] == "all" and set(splits.values()) == {"all", "train"} and len(splits) == 3
        assert spec.preset("paper").metric_params["fid"] == {"n_fake": 10000, "reference": "train"}
    quick = load_spec("bfvae_fid").cells("quick")
    assert all(c.dataset.train_split == "train" and "train_split" not in dataset_key(c.dataset) for c in quick)


def test_train_split_must_name_splits(tmp_path):
    from factorbench.bench.spec import resolve_train_split

    assert resolve_train_split({"cub": "all"}, "cub") == "all" and resolve_train_split({"cub": "all"}, "dogs") == "train"
    with pytest.raises(FactorbenchError, match="train_split: the split of cub must be a split name"):
        resolve_train_split({"cub": 3}, "cub")
    with pytest.raises(FactorbenchError, match="train_split must be a split name"):
        resolve_train_split(["all"], "cub")


def test_cell_id_hashes_the_resolved_model_config(tmp_path, monkeypatch):
    """beta = 4 and beta = 4.0 are one cell; naming a default or leaving it out is one cell;
    a changed model default is a new cell (issue 16: ids hashed the spec's raw dict)."""
    import dataclasses

    from factorbench.models import MODELS

    def ids(body):
        return [c.id for c in load_spec(write(tmp_path, body)).cells("quick")]

    as_int = ids(BASE.replace("[presets.quick]", "[presets.quick]\ngrid = { beta = [4] }"))
    as_float = ids(BASE.replace("[presets.quick]", "[presets.quick]\ngrid = { beta = [4.0] }"))
    assert as_int == as_float
    default = next(f for f in dataclasses.fields(MODELS.get("vae").config_class) if f.name == "base_channels").default
    named = ids(BASE.replace("model = { latent_dim = 8 }", f"model = {{ latent_dim = 8, base_channels = {default} }}"))
    assert named == ids(BASE)
    changed = ids(BASE.replace("model = { latent_dim = 8 }", f"model = {{ latent_dim = 8, base_channels = {default + 1} }}"))
    assert changed != ids(BASE)
    # the same spec after the model's default changed: new cells, not the old checkpoints
    vae = MODELS.get("vae")
    new_default = dataclasses.make_dataclass(vae.config_class.__name__, [
        ("base_channels", int, dataclasses.field(default=default + 1))], bases=(vae.config_class,))
    before = ids(BASE)
    monkeypatch.setattr(vae, "config_class", new_default)
    assert ids(BASE) == changed and ids(BASE) != before
