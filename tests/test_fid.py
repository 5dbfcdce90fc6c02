"""FID/KID pipeline: modes, the real offline Inception, caching, stats files, bad input."""

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from factorbench.cli import main
from factorbench.errors import FactorbenchError
from factorbench.metrics import inception
from factorbench.metrics.fid import (compute_fid, compute_kid, extract_features, load_stats_npz, prepare_batch,
                                     save_stats_npz, to_uint8)
from factorbench.metrics.image_sources import Images, dataset_images, folder_images


@pytest.fixture(scope="module")
def real():
    return dataset_images("digits-rgb", "test", n=16)


@pytest.fixture(scope="module")
def fake(real):
    """Float images with fractional values: rounding to uint8 changes them."""
    g = torch.Generator().manual_seed(0)
    x = real.data.float() / 255 * 0.8 + 0.1 + torch.rand(real.data.shape, generator=g) * 0.02
    return Images(x, {"kind": "test-float"})


# ------------------------------------------------------------------ mode semantics (no Inception)
def test_saved_rounds_and_direct_does_not(fake, tmp_path):
    direct = prepare_batch(fake.data[:2], "direct", 32, None, 0)
    saved = prepare_batch(fake.data[:2], "saved", 32, tmp_path, 0)
    assert direct.dtype == torch.float32 and direct.shape == (2, 3, 32, 32)
    assert (direct != direct.round()).any()  # fractional values survive
    assert saved.dtype == torch.uint8 and saved.shape == (2, 3, 299, 299)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000000.png", "000001.png"]  # really written as PNG
    clean = prepare_batch(fake.data[:2], "clean", 32, None, 0)
    assert clean.dtype == torch.float32 and clean.shape == (2, 3, 299, 299) and 0 <= clean.min() and clean.max() <= 255


def test_uint8_at_299_is_identical_in_every_mode(tmp_path):
    x = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8)
    direct = prepare_batch(x, "direct", 299, None, 0)
    saved = prepare_batch(x, "saved", 299, tmp_path, 0)
    assert torch.equal(direct, saved.float())


def test_rounding_is_half_up():
    assert to_uint8(torch.tensor([0.49, 0.5, 254.5, 300.0, -2.0])).tolist() == [0, 1, 255, 255, 0]


def test_greyscale_is_repeated_to_rgb():
    x = torch.rand(2, 1, 16, 16)
    out = prepare_batch(x, "direct", 16, None, 0)
    assert out.shape == (2, 3, 16, 16) and torch.equal(out[:, 0], out[:, 2])


# ------------------------------------------------------------------ the real Inception
def test_real_inception_features_match_the_unoptimised_network(real):
    optimised = inception.get_extractor("cpu", True)
    plain = inception.get_extractor("cpu", False)
    x = real.data[:4]
    (a,), (b,) = optimised(x), plain(x)
    assert a.shape == (4, 2048) and torch.isfinite(a).all() and a.abs().sum() > 0
    assert (a - b).abs().max() <= 1e-4


def test_fid_of_a_set_with_itself_is_zero(real):
    record, _, _ = compute_fid(real, real, "direct", 32, use_cache=False)
    assert 0.0 <= record["value"] <= 1e-6


def test_saved_and_direct_differ_on_fractional_float_images(fake, real):
    saved, _, _ = compute_fid(fake, real, "saved", 32, batch_size=16)
    direct, _, _ = compute_fid(fake, real, "direct", 32, batch_size=16)
    assert saved["value"] > 0 and direct["value"] > 0
    assert abs(saved["value"] - direct["value"]) > 1e-3
    p = saved["protocol"]
    assert p["mode"] == "saved" and p["n_fake"] == 16 and p["n_real"] == 16 and p["image_size"] == 32
    assert p["extractor"]["sha1"] == inception.WEIGHTS_SHA1 and "torch" in p["versions"]
    assert any("PNG" in step for step in p["fake"]["quantisation"])
    assert direct["protocol"]["fake"]["quantisation"] == []


def test_saved_and_direct_agree_exactly_on_uint8_images_at_299():
    g = torch.Generator().manual_seed(1)
    a = Images(torch.randint(0, 256, (3, 3, 299, 299), dtype=torch.uint8, generator=g), {"kind": "a"})
    b = Images(torch.randint(0, 256, (3, 3, 299, 299), dtype=torch.uint8, generator=g), {"kind": "b"})
    saved, _, _ = compute_fid(a, b, "saved", 299)
    direct, _, _ = compute_fid(a, b, "direct", 299)
    assert saved["value"] == direct["value"]


def test_fid_does_not_depend_on_batch_size(fake, real):
    one, _, _ = compute_fid(fake, real, "direct", 32, batch_size=16, use_cache=False)
    other, _, _ = compute_fid(fake, real, "direct", 32, batch_size=5, use_cache=False)
    assert abs(one["value"] - other["value"]) <= 1e-6 * abs(one["value"])


def test_reference_statistics_are_cached_and_exportable(fake, real, tmp_path):
    first, _, real_stats = compute_fid(fake, real, "saved", 32, batch_size=16)
    second, _, _ = compute_fid(fake, real, "saved", 32, batch_size=16)
    assert second["protocol"]["real"]["stats_cache"] == "hit"
    assert second["value"] == pytest.approx(first["value"], rel=1e-12)
    path = save_stats_npz(tmp_path / "real.npz", real_stats)
    with np.load(path) as data:
        assert {"mu", "sigma"} <= set(data.files) and data["sigma"].shape == (2048, 2048)
    from_file, _, _ = compute_fid(fake, path, "saved", 32)
    assert from_file["value"] == pytest.approx(first["value"], rel=1e-9)
    assert load_stats_npz(path).n == 16


def test_kid_is_torch_fidelitys_estimator_on_our_features(fake, real):
    from torch_fidelity.metric_kid import kid_features_to_metric

    record = compute_kid(fake, real, "direct", 32, seed=0, subsets=10)
    assert record["metric"] == "kid_direct" and np.isfinite(record["value"])
    assert record["protocol"]["kid_subset_size"] == 16
    f = torch.from_numpy(extract_features(fake, "direct", 32))
    r = torch.from_numpy(extract_features(real, "direct", 32))
    expected = kid_features_to_metric(f, r, kid_subsets=10, kid_subset_size=16, verbose=False, rng_seed=0)
    assert record["value"] == pytest.approx(expected["kernel_inception_distance_mean"], rel=1e-6)


# ------------------------------------------------------------------ weights
def test_tampered_or_missing_weights_are_clear_errors(tmp_path, monkeypatch):
    bad = tmp_path / "default_1.pt"
    shutil.copy(inception.weights_path(), bad)
    with open(bad, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setenv("FACTORBENCH_INCEPTION", str(bad))
    with pytest.raises(FactorbenchError, match="SHA-1"):
        inception.verified_weights()
    monkeypatch.setenv("FACTORBENCH_INCEPTION", str(tmp_path / "absent.pt"))
    with pytest.raises(FactorbenchError, match="missing"):
        inception.verified_weights()


# ------------------------------------------------------------------ bad input
def write_pngs(folder, n, size=16, mode="RGB"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "RGBA": 4, "L": None}[mode]
    for i in range(n):
        shape = (size, size) if channels is None else (size, size, channels)
        arr = rng.integers(0, 256, shape, dtype=np.uint8)
        if mode == "RGBA":
            arr[..., 3] = 255
        Image.fromarray(arr, mode=mode).save(folder / f"{i:03d}.png")
    return folder


def test_folder_problems_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FactorbenchError, match="contains no image files"):
        folder_images(tmp_path / "empty")
    bad = write_pngs(tmp_path / "truncated", 3)
    data = (bad / "001.png").read_bytes()
    (bad / "001.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(FactorbenchError, match=r"001\.png: not a readable image"):
        folder_images(bad)
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "x.png").write_bytes(b"not a png at all")
    with pytest.raises(FactorbenchError, match="not a readable image"):
        folder_images(tmp_path / "garbage")
    mixed = write_pngs(tmp_path / "mixed", 2)
    write_pngs(tmp_path / "other", 1, size=20)
    shutil.copy(tmp_path / "other" / "000.png", mixed / "002.png")
    with pytest.raises(FactorbenchError, match="different sizes"):
        folder_images(mixed)


def test_greyscale_and_opaque_rgba_are_converted_translucent_refused(tmp_path):
    grey = folder_images(write_pngs(tmp_path / "grey", 2, mode="L"))
    assert grey.data.shape == (2, 3, 16, 16) and torch.equal(grey.data[:, 0], grey.data[:, 1])
    rgba = folder_images(write_pngs(tmp_path / "rgba", 2, mode="RGBA"))
    assert rgba.data.shape == (2, 3, 16, 16)
    arr = np.zeros((4, 4, 4), dtype=np.uint8)
    arr[..., 3] = 100
    Image.fromarray(arr, mode="RGBA").save(tmp_path / "rgba" / "009.png")
    with pytest.raises(FactorbenchError, match="transparent pixels"):
        folder_images(tmp_path / "rgba")


def test_fewer_than_two_images_is_an_error(tmp_path):
    one = folder_images(write_pngs(tmp_path / "one", 1))
    with pytest.raises(FactorbenchError, match="at least 2 images"):
        extract_features(one, "direct", 16)


def test_nan_from_a_model_is_a_clear_error(tmp_path):
    from factorbench.metrics.image_sources import checkpoint_images
    from factorbench.train import TrainConfig, TrainRun, train
    from factorbench.models.checkpoint import MODEL_FILE

    run = TrainRun("vae", {"latent_dim": 4, "base_channels": 4}, "digits-rgb", tmp_path / "ckpt",
                   train=TrainConfig(epochs=1, batch_size=32), dataset_n=64)
    model = train(run, progress=False)
    state = model.state_dict()
    state["decoder.fc.0.bias"] = torch.full_like(state["decoder.fc.0.bias"], float("nan"))
    torch.save(state, tmp_path / "ckpt" / MODEL_FILE)
    with pytest.raises(FactorbenchError, match="NaN or inf"):
        checkpoint_images(tmp_path / "ckpt", 4)


# ------------------------------------------------------------------ the command line
def test_run_fid_both_prints_the_side_by_side_layout(tmp_path):
    a, b = write_pngs(tmp_path / "a", 4), write_pngs(tmp_path / "b", 4, size=16)
    result = CliRunner().invoke(main, ["--quiet", "run", "fid", str(a), str(b), "--mode", "both", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "| FID | saved | direct |"
    assert "4 fake / 4 real images at 16x16" in result.output
    as_json = CliRunner().invoke(main, ["--quiet", "run", "fid", str(a), str(b), "--mode", "direct", "--json",
                                        "--kid", "--prc", "--device", "cpu"])
    records = json.loads(as_json.stdout)  # one shape for every --json: a list of records
    assert [r["metric"] for r in records] == ["fid_direct", "kid_direct", "precision_direct", "recall_direct"]
    assert records[0]["protocol"]["mode"] == "direct" and "std" in records[1]


def test_run_fid_bad_source_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["run", "fid", str(tmp_path / "nothing"), "digits-rgb"])
    assert result.exit_code != 0
    assert "neither a .npz statistics file" in result.output and "Traceback" not in result.output


def test_fid_evaluators_score_a_trained_model_and_caption_their_protocol(tmp_path):
    """The benchmark path: a model's random and test-seeded FID, saved and direct, with protocol."""
    from factorbench.data import get_dataset
    from factorbench.evaluators import EVALUATORS, EvalContext
    from factorbench.train import TrainConfig, TrainRun, train

    run = TrainRun("vae", {"latent_dim": 4, "base_channels": 4}, "digits-rgb", tmp_path / "ckpt",
                   train=TrainConfig(epochs=1, batch_size=32), dataset_n=64)
    model = train(run, progress=False)
    test = get_dataset("digits-rgb", "test", n=8)
    ctx = EvalContext(model, get_dataset("digits-rgb", "train", n=64), test, seed=3)
    values = EVALUATORS.get("fid")(ctx) + EVALUATORS.get("fid_test_seeded")(ctx)
    assert [v.metric for v in values] == ["fid_saved", "fid_direct", "fid_test_seeded_saved", "fid_test_seeded_direct"]
    assert all(v.value > 0 for v in values)
    assert values[0].protocol["definition"].startswith("FID, saved mode: 8 fake / 8 real images at 32x32")
    assert values[0].protocol["reference_split"] == "test"
    # Tables 5.3/5.4's knobs: the reference split and the count of each side, separately
    (saved, direct) = EVALUATORS.get("fid")(ctx, n_fake=6, n_real=10, reference="train")
    assert (direct.protocol["n_fake"], direct.protocol["n_real"], direct.protocol["reference_split"]) == (6, 10, "train")
    assert direct.protocol["definition"].endswith("reference: the first 10 images of digits-rgb train")
    with pytest.raises(FactorbenchError, match="n_real = 65, but the reference .digits-rgb train. has 64 images"):
        EVALUATORS.get("fid")(ctx, n_real=65, reference="train")
    with pytest.raises(FactorbenchError, match="cannot differ from n_real"):
        EVALUATORS.get("fid_test_seeded")(ctx, n_fake=5)
    with pytest.raises(FactorbenchError, match="reference must be one of test, train"):
        EVALUATORS.get("fid")(ctx, reference="all")
    # an external row's samples were rounded when saved as files: the protocol says so
    from factorbench.bench.external import FolderSamples

    ctx.model = FolderSamples("ext", write_pngs(tmp_path / "ext", 2, size=32))
    (saved, direct) = EVALUATORS.get("fid")(ctx, n_real=2)
    assert direct.protocol["fake"]["quantisation"] == [f"samples stored as 8-bit image files in {tmp_path / 'ext'}"]


def test_run_sharpness_of_constant_images_is_zero(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), 90 + i, dtype=np.uint8)).save(folder / f"{i}.png")
    result = CliRunner().invoke(main, ["run", "sharpness", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("sharpness 0.0000 ± 0.0000") and "over 3 images" in result.output


# ------------------------------------------------------------------ statistics files and their protocol
def test_a_stats_file_carries_its_protocol_and_is_refused_under_another(fake, real, tmp_path):
    _, _, real_stats = compute_fid(fake, real, "saved", 32, batch_size=16)
    path = save_stats_npz(tmp_path / "real.npz", real_stats)
    with np.load(path) as data:  # pytorch-fid / clean-fid read mu and sigma; the protocol rides along
        assert data["mu"].shape == (2048,) and str(data["mode"]) == "saved" and int(data["image_size"]) == 32
        assert str(data["extractor_sha1"]) == inception.WEIGHTS_SHA1 and int(data["n"]) == 16
        assert "torch" in json.loads(str(data["versions"]))
    assert load_stats_npz(path).protocol["resize_to_299"].startswith("PIL bilinear")
    with pytest.raises(FactorbenchError, match=r"real\.npz: statistics computed under another protocol: mode 'saved' "
                                               r"\(requested 'direct'\)"):
        compute_fid(fake, path, "direct", 32)
    with pytest.raises(FactorbenchError, match=r"image_size 32 \(requested 16\)"):
        compute_fid(fake, path, "saved", 16)
    forced, _, _ = compute_fid(fake, path, "direct", 32, allow_protocol_mismatch=True)
    assert forced["protocol"]["real"]["protocol_mismatch"][0].startswith("mode 'saved'")
    assert "used anyway" in forced["protocol"]["definition"]


def test_a_plain_mu_sigma_file_has_an_unknown_protocol_and_count(fake, real, tmp_path):
    _, _, real_stats = compute_fid(fake, real, "direct", 32, batch_size=16)
    plain = tmp_path / "pytorch_fid.npz"
    np.savez(plain, mu=real_stats.mu, sigma=real_stats.sigma)
    record, _, stats = compute_fid(fake, plain, "direct", 32)
    assert stats.n is None and record["protocol"]["n_real"] is None
    assert record["protocol"]["real"]["stats_protocol"] == "unknown"
    assert "16 fake / unknown real" in record["protocol"]["definition"] and "-1 real" not in record["protocol"]["definition"]


def test_small_samples_are_flagged_in_the_record(fake, real):
    fid_record, _, _ = compute_fid(fake, real, "direct", 32, batch_size=16)
    assert fid_record["protocol"]["below_feature_dim"] == {"feature_dim": 2048, "fake": True, "real": True}
    (warning,) = fid_record["protocol"]["warnings"]
    assert "fewer than the 2048 feature dimensions" in warning
    kid = compute_kid(fake, real, "direct", 32, seed=0, subsets=5)
    assert kid["protocol"]["kid_subset_is_whole_set"] == {"fake": True, "real": True}
    assert kid["std"] <= 1e-6  # every subset is the whole set: only float32 summation order differs
    (warning,) = kid["protocol"]["warnings"]
    assert "whole fake and real set" in warning and "by construction" in warning


def write_stats(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_bad_statistics_files_are_one_line_errors(tmp_path):
    d = 3
    good = {"mu": np.zeros(d), "sigma": np.eye(d)}
    cases = {
        "empty.npz": None,
        "garbage.npz": b"this is not a zip file",
        "bad_zip.npz": b"PK\x03\x04 and then nothing a zip needs",
        "array_n.npz": {**good, "n": np.array([5, 6])},
        "float_n.npz": {**good, "n": np.float64(2.5)},
        "empty_arrays.npz": {"mu": np.zeros(0), "sigma": np.zeros((0, 0))},
        "asymmetric.npz": {"mu": np.zeros(2), "sigma": np.array([[1.0, 0.5], [0.0, 1.0]])},
        "not_psd.npz": {"mu": np.zeros(2), "sigma": np.array([[1.0, 2.0], [2.0, 1.0]])},  # eigenvalues 3, -1
        "no_sigma.npz": {"mu": np.zeros(d)},
    }
    expected = {"empty.npz": "empty file", "garbage.npz": "not a .npz .zip. archive", "bad_zip.npz": "BadZipFile", "array_n.npz": "an array of shape",
                "float_n.npz": "one positive integer", "empty_arrays.npz": "empty", "asymmetric.npz": "not symmetric",
                "not_psd.npz": "not positive semi-definite", "no_sigma.npz": "'mu' .* and 'sigma'"}
    for name, content in cases.items():
        path = tmp_path / name
        if content is None:
            path.write_bytes(b"")
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            write_stats(path, **content)
        with pytest.raises(FactorbenchError, match=expected[name]) as err:
            load_stats_npz(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    full = tmp_path / "truncated.npz"
    write_stats(full, **good, n=np.int64(4))
    full.write_bytes(full.read_bytes()[:200])
    with pytest.raises(FactorbenchError, match="truncated.npz: not a readable"):
        load_stats_npz(full)
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(FactorbenchError, match="array.npy: a single .npy array"):
        load_stats_npz(tmp_path / "array.npy")
    assert load_stats_npz(write_stats(tmp_path / "ok.npz", **good, n=np.int64(4))).n == 4


def test_run_fid_stats_file_problems_exit_with_one_line(tmp_path):
    a = write_pngs(tmp_path / "a", 2)
    (tmp_path / "zero.npz").write_bytes(b"")
    result = CliRunner().invoke(main, ["--quiet", "run", "fid", str(a), str(tmp_path / "zero.npz"), "--device", "cpu"])
    assert result.exit_code != 0 and "zero.npz: empty file" in result.output
    assert "Aborted" not in result.output and "Traceback" not in result.output
    tagged = tmp_path / "direct.npz"
    write_stats(tagged, mu=np.zeros(2048), sigma=np.eye(2048), n=np.int64(4), format=np.str_("factorbench-fid-stats-1"),
                mode=np.str_("direct"), image_size=np.int64(16), resize_to_299=np.str_("x"),
                extractor_sha1=np.str_(inception.WEIGHTS_SHA1))
    result = CliRunner().invoke(main, ["--quiet", "run", "fid", str(a), str(tagged), "--device", "cpu"])
    assert result.exit_code != 0 and "direct mode; --mode both would score them under both modes" in result.output


def test_run_fid_save_stats_round_trip_and_warnings(tmp_path):
    a, b = write_pngs(tmp_path / "a", 4), write_pngs(tmp_path / "b", 4, size=16)
    stats = tmp_path / "b.npz"
    run = CliRunner().invoke(main, ["--quiet", "run", "fid", str(a), str(b), "--mode", "direct", "--save-stats",
                                    str(stats), "--device", "cpu"])
    assert run.exit_code == 0, run.output
    assert run.stderr.count("warning: FID on 4 fake / 4 real images, fewer than the 2048") == 1
    refused = CliRunner().invoke(main, ["--quiet", "run", "fid", str(a), str(stats), "--mode", "saved", "--device", "cpu"])
    assert refused.exit_code != 0 and "another protocol: mode 'direct' (requested 'saved')" in refused.output
    same = CliRunner().invoke(main, ["--quiet", "run", "fid", str(a), str(stats), "--mode", "direct", "--device", "cpu"])
    assert same.exit_code == 0 and same.stdout.splitlines()[2].endswith(run.stdout.splitlines()[2].split("|")[-2] + "|")
    np.savez(tmp_path / "plain.npz", mu=load_stats_npz(stats).mu, sigma=load_stats_npz(stats).sigma)
    both = CliRunner().invoke(main, ["--quiet", "run", "fid", str(a), str(tmp_path / "plain.npz"), "--device", "cpu"])
    assert both.exit_code == 0, both.output
    assert "4 fake / unknown real" in both.output and "the same in every column" in both.output
    assert both.stderr.count("warning:") == 1
