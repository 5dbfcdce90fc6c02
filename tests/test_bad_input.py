"""Odd and hostile inputs (issue 18): each is converted correctly or refused in one line,
never turned silently into a wrong number. The README's "Bad input" section lists them."""

import numpy as np
import pytest
from PIL import Image

from factorbench.data.real.imageio import open_mask, open_rgb
from factorbench.errors import FactorbenchError
from factorbench.metrics.image_sources import folder_images, load_image_file


def one_line(excinfo) -> str:
    assert "\n" not in str(excinfo.value)
    return str(excinfo.value)


# --------------------------------------------------------------------------- PIL modes (item 3)

def ramp16() -> np.ndarray:
    """16-bit greyscale ramp 0..65535 over 16x16 pixels (top 8 bits = the pixel index)."""
    return (np.arange(256, dtype=np.uint32).reshape(16, 16) * 257).astype(np.uint16)


def test_float_image_in_0_1_is_scaled_not_clipped_to_black(tmp_path):
    """Mode F through convert("RGB") clips 0..1 to 0/1 of 255: a black image, FID 670."""
    value = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)
    path = tmp_path / "f.tif"
    Image.fromarray(value, mode="F").save(path)
    assert Image.open(path).mode == "F"
    expected = np.rint(value.astype(np.float64) * 255).astype(np.uint8)
    arr = load_image_file(path)
    assert arr.shape == (16, 16, 3) and arr.max() == 255
    np.testing.assert_array_equal(arr[..., 0], expected)
    np.testing.assert_array_equal(np.asarray(open_rgb(path))[..., 1], expected)
    np.testing.assert_allclose(open_mask(path), expected / 255.0, atol=1e-7)


@pytest.mark.parametrize("values,found", [(np.full((4, 4), 2.0), r"\[2, 2\]"), (np.full((4, 4), -0.5), r"\[-0.5, -0.5\]")])
def test_float_image_outside_0_1_is_refused(tmp_path, values, found):
    path = tmp_path / "f.tif"
    Image.fromarray(values.astype(np.float32), mode="F").save(path)
    for read in (load_image_file, open_rgb, open_mask):
        with pytest.raises(FactorbenchError, match=rf"f.tif: float \(mode F\) image has values in {found}; float "
                                                   r"images must be in \[0, 1\]") as excinfo:
            read(path)
        one_line(excinfo)


def test_float_image_with_nan_is_refused(tmp_path):
    path = tmp_path / "f.tif"
    Image.fromarray(np.array([[0.5, np.nan]], dtype=np.float32), mode="F").save(path)
    with pytest.raises(FactorbenchError, match=r"float \(mode F\) image holds NaN"):
        load_image_file(path)


def test_32bit_integer_image_is_refused_not_clipped_to_white(tmp_path):
    path = tmp_path / "i.tif"
    Image.fromarray(ramp16().astype(np.int32), mode="I").save(path)
    assert Image.open(path).mode == "I"
    for read in (load_image_file, open_rgb):
        with pytest.raises(FactorbenchError, match=r"i.tif: 32-bit integer \(mode I\) image, values 0..65535, does "
                                                   r"not say its range") as excinfo:
            read(path)
        one_line(excinfo)


@pytest.mark.parametrize("dtype,mode", [("<u2", "I;16"), (">u2", "I;16B")])
def test_16bit_images_in_either_byte_order_keep_their_top_8_bits(tmp_path, dtype, mode):
    path = tmp_path / "g.tif"
    Image.fromarray(ramp16().astype(dtype)).save(path)
    assert Image.open(path).mode == mode
    expected = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(load_image_file(path)[..., 2], expected)
    np.testing.assert_array_equal(np.asarray(open_rgb(path))[..., 0], expected)
    np.testing.assert_allclose(open_mask(path), expected / 255.0, atol=1e-7)


def test_16bit_png_folder_scores_like_its_8bit_version(tmp_path):
    folder = tmp_path / "png16"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(ramp16()).save(folder / f"{i}.png")
    images = folder_images(folder)
    assert images.data.dtype.is_floating_point is False
    np.testing.assert_array_equal(images.data[0, 0].numpy(), np.arange(256).reshape(16, 16))


# --------------------------------------------------------------------------- decompression bombs (item 9)

def test_png_header_claiming_30000x30000_is_one_line(tmp_path):
    """A PNG whose header claims 9e8 pixels: PIL's DecompressionBombError, not a traceback."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")
    folder = tmp_path / "bomb"
    folder.mkdir()
    (folder / "a.png").write_bytes(png)
    for read in (lambda: folder_images(folder), lambda: open_rgb(folder / "a.png"), lambda: open_mask(folder / "a.png")):
        with pytest.raises(FactorbenchError, match=r"a.png: not a readable (mask )?image \(.*decompression bomb") as excinfo:
            read()
        one_line(excinfo)


# --------------------------------------------------------------------------- counts (item 4)

import json  # noqa: E402

import torch  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from factorbench.cli import main  # noqa: E402
from factorbench.metrics.sources import SourceOptions, resolve  # noqa: E402


@pytest.fixture
def ten_pngs(tmp_path):
    folder = tmp_path / "ten"
    folder.mkdir()
    for i in range(10):
        Image.fromarray(np.full((8, 8, 3), 20 * i, dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


@pytest.mark.parametrize("flag,value", [("--n", "-5"), ("--n", "0"), ("--batch-size", "0"), ("--batch-size", "-1")])
def test_counts_must_be_positive_on_the_command_line(ten_pngs, flag, value):
    result = CliRunner().invoke(main, ["run", "sharpness", str(ten_pngs), flag, value])
    assert result.exit_code == 1, result.output  # a user error (click says 2; factorbench: 1)
    assert f"Invalid value for '{flag}'" in result.output and "x>=1" in result.output
    assert "Traceback" not in result.output


def test_the_count_used_is_the_count_asked_for(ten_pngs):
    result = CliRunner().invoke(main, ["run", "sharpness", str(ten_pngs), "--n", "3"])
    assert result.exit_code == 0 and "over 3 images" in result.output, result.output
    result = CliRunner().invoke(main, ["run", "sharpness", str(ten_pngs), "--n", "20"])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {ten_pngs} has 10 images; --n 20 asks for more (lower --n)"
    with pytest.raises(FactorbenchError, match=r"n must be a positive whole number, got -5"):
        resolve(str(ten_pngs), SourceOptions(n=-5))
    with pytest.raises(FactorbenchError, match=r"batch_size must be a positive whole number, got 0"):
        resolve(str(ten_pngs), SourceOptions(batch_size=0))
    assert resolve(str(ten_pngs), SourceOptions(n=4)).source["n"] == 4


def test_train_counts_are_checked_by_the_cli(tmp_path):
    for flag in ("--batch-size", "--epochs", "--n-train"):
        result = CliRunner().invoke(main, ["train", "vae", "--dataset", "digits-rgb", flag, "0",
                                           "--out", str(tmp_path / "x")])
        assert result.exit_code == 1 and f"Invalid value for '{flag}'" in result.output
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- checkpoints (items 8, 9)

@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from factorbench.train import TrainConfig, TrainRun, train

    out = tmp_path_factory.mktemp("ckpt") / "vae"
    train(TrainRun("vae", {"latent_dim": 2, "base_channels": 2}, "digits-rgb", out, dataset_n=32,
                   train=TrainConfig(epochs=1, batch_size=32)), progress=False)
    return out


def copy_checkpoint(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_weights_of_another_dtype_are_refused_not_cast(tiny_checkpoint, tmp_path):
    from factorbench.models.checkpoint import load_model

    folder = copy_checkpoint(tiny_checkpoint, tmp_path / "c")
    state = torch.load(folder / "model.pt", weights_only=True)
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key].round().to(torch.int64)  # integer weights, silently cast before
    torch.save(state, folder / "model.pt")
    with pytest.raises(FactorbenchError, match=rf"weights in .*model.pt: {key} is int64, the model built from "
                                               r".*config.json expects float32") as excinfo:
        load_model(folder)
    one_line(excinfo)
    load_model(tiny_checkpoint)  # the untouched one still loads


def test_checkpoint_config_without_dataset_is_one_line(tiny_checkpoint, tmp_path):
    folder = copy_checkpoint(tiny_checkpoint, tmp_path / "c")
    config = json.loads((folder / "config.json").read_text())
    del config["dataset"]
    (folder / "config.json").write_text(json.dumps(config))
    for cmd in (["run", "mse", str(folder)], ["run", "sharpness", str(folder), "--sampling", "test", "--n", "2"]):
        result = CliRunner().invoke(main, cmd)
        assert result.exit_code == 1, result.output
        assert result.output.strip() == f"Error: {folder / 'config.json'} is missing 'dataset'; not a factorbench checkpoint"


def test_folder_with_weights_but_no_config_is_not_a_checkpoint(tiny_checkpoint, tmp_path):
    folder = copy_checkpoint(tiny_checkpoint, tmp_path / "c")
    (folder / "config.json").unlink()
    result = CliRunner().invoke(main, ["run", "sharpness", str(folder)])
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: {folder} is not a checkpoint: it holds model.pt, trainer.pt but no "
                                     "config.json (the file that says which model to build)")
