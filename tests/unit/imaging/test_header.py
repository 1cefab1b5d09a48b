"""Sizes read from header bytes in pure Python agree with libvips on every input format."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import pyvips
from PIL import Image

from tests.support import images
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.formats import InputFormat
from tilework.imaging.header import read_size

LIMIT = 100_000_000

# (file name, pyvips save options); odd sizes catch swapped or off-by-one fields.
SAVES = [
    ("baseline.jpg", {}),
    ("progressive.jpg", {"interlace": True}),
    ("exif.jpg", {"keep": "all"}),
    ("plain.png", {}),
    ("interlaced.png", {"interlace": True}),
    ("lossy.webp", {}),
    ("lossless.webp", {"lossless": True}),
    ("plain.gif", {}),
    ("little.tif", {}),
    ("tiled.tif", {"tile": True, "tile_width": 16, "tile_height": 16}),
    ("big.tif", {"bigtiff": True}),
    ("pyramid.tif", {"tile": True, "pyramid": True}),
    ("plain.avif", {"compression": "av1"}),
]


@pytest.mark.parametrize(("name", "options"), SAVES, ids=[name for name, _ in SAVES])
@pytest.mark.parametrize(("width", "height"), [(1, 1), (301, 97), (97, 1301)])
def test_every_format_reads_as_libvips_does(
    tmp_path: Path, name: str, options: dict[str, object], width: int, height: int
) -> None:
    source = pyvips.Image.new_from_file(str(images.photo(tmp_path / "p.png", 320, 240)))
    image = source.resize(width / 320, vscale=height / 240)
    path = tmp_path / name
    image.write_to_file(str(path), **options)
    loaded = pyvips.Image.new_from_file(str(path))
    size = read_size(path, LIMIT)
    assert (size.width, size.height) == (loaded.width, loaded.height) == (width, height)


def test_webp_with_alpha_uses_the_extended_header(tmp_path: Path) -> None:
    path = images.rgba_png(tmp_path / "a.png")
    target = tmp_path / "a.webp"
    Image.open(path).save(target)
    assert target.read_bytes()[12:16] == b"VP8X"
    with Image.open(path) as expected:
        assert (read_size(target, LIMIT).width, read_size(target, LIMIT).height) == expected.size


def test_big_endian_tiff(tmp_path: Path) -> None:
    """Motorola byte order, width as SHORT and height as LONG, built by hand (no encoder here
    writes big-endian TIFF)."""
    entries = [
        struct.pack(">HHIHxx", 256, 3, 1, 123),  # ImageWidth, SHORT
        struct.pack(">HHII", 257, 4, 1, 45),  # ImageLength, LONG
    ]
    path = tmp_path / "m.tif"
    path.write_bytes(b"MM\x00\x2a" + struct.pack(">IH", 8, 2) + b"".join(entries) + bytes(4))
    size = read_size(path, LIMIT)
    assert (size.format, size.width, size.height) == (InputFormat.TIFF, 123, 45)


def test_a_pixel_flood_header_is_too_large(tmp_path: Path) -> None:
    path = images.huge_header_png(tmp_path / "flood.png", 100_000, 100_000)
    with pytest.raises(TileworkError) as caught:
        read_size(path, LIMIT)
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE
    assert caught.value.details == {"width": 100_000, "height": 100_000, "max_pixels": LIMIT}


# Each cut keeps the signature (so the format is still recognised) and loses the size fields.
CUTS = [("a.jpg", 14), ("a.png", 14), ("a.webp", 14), ("a.gif", 8), ("a.tif", 14), ("a.avif", 14)]


@pytest.mark.parametrize(("name", "keep"), CUTS)
def test_a_header_cut_short_is_corrupt(tmp_path: Path, name: str, keep: int) -> None:
    full = tmp_path / name
    pyvips.Image.new_from_file(str(images.photo(tmp_path / "p.png", 64, 48))).write_to_file(
        str(full)
    )
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(full.read_bytes()[:keep])
    with pytest.raises(TileworkError) as caught:
        read_size(cut, LIMIT)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE


def test_a_jpeg_without_a_frame_header_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    # SOI, one comment segment, then the end of the image: no SOF anywhere.
    path.write_bytes(b"\xff\xd8\xff\xfe\x00\x05abc\xff\xd9")
    with pytest.raises(TileworkError) as caught:
        read_size(path, LIMIT)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE


def test_zero_dimensions_are_corrupt(tmp_path: Path) -> None:
    path = images.huge_header_png(tmp_path / "zero.png", 0, 10)
    with pytest.raises(TileworkError) as caught:
        read_size(path, LIMIT)
    assert caught.value.code is ErrorCode.CORRUPT_IMAGE
