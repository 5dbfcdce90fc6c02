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
