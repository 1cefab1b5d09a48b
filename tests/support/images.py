"""Test images, made on the spot: a photo-like picture and the awkward cases decoders meet."""

from __future__ import annotations

from importlib.metadata import distribution
from pathlib import Path

import pyvips
from PIL import Image

EXIF_ORIENTATION = 0x0112


def photo(path: Path, width: int = 640, height: int = 480) -> Path:
    """Smooth gradients plus grain: compresses and resizes like a real photo, deterministically."""
    xyz = pyvips.Image.xyz(width, height)
    x, y = xyz[0], xyz[1]
    red = (x * 255 / width).cast("uchar")
    green = (y * 255 / height).cast("uchar")
    blue = (((x + y) * 3) % 256).cast("uchar")
    grain = pyvips.Image.gaussnoise(width, height, sigma=12, mean=0, seed=7)
    image = (red.bandjoin([green, blue]) + grain).cast("uchar")
    image.write_to_file(str(path))
    return path


def oriented_jpeg(path: Path, orientation: int, width: int = 60, height: int = 40) -> Path:
    """A JPEG whose pixels are ``width``x``height`` with an EXIF orientation tag."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    image.save(path, "JPEG", exif=exif.tobytes())
    return path


def cmyk_jpeg(path: Path) -> Path:
    Image.new("CMYK", (50, 40), (0, 255, 255, 0)).save(path, "JPEG")
    return path


def sixteen_bit_png(path: Path) -> Path:
    image = pyvips.Image.black(48, 32).cast("ushort").new_from_image([60000, 30000, 1000])
    image.copy(interpretation="rgb16").pngsave(str(path))
    return path


def palette_png_with_transparency(path: Path) -> Path:
    image = Image.new("P", (40, 40), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (0, 0, 20, 40))
    image.save(path, "PNG", transparency=0)
    return path


def rgba_png(path: Path) -> Path:
    Image.new("RGBA", (30, 30), (0, 0, 0, 0)).save(path, "PNG")
    return path


def truncated(source: Path, path: Path) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def huge_header_png(path: Path, width: int, height: int) -> Path:
    """A valid PNG header claiming ``width``x``height`` with almost no data behind it."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # A few kilobytes of zeros compress to a few bytes: the decoder would expand them forever.
    data = chunk(b"IDAT", zlib.compress(b"\x00" * 4096, 9))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + data + chunk(b"IEND", b""))
    return path


def large_photo(path: Path, side: int) -> Path:
    """A real photograph (scikit-image's astronaut) enlarged to ``side`` square, with grain so
    that it encodes like a photo of that size rather than a smooth enlargement."""
    source = distribution("scikit-image").locate_file("skimage/data/astronaut.png")
    image = pyvips.Image.new_from_file(str(source))
    image = image.resize(side / image.width, kernel="lanczos3")
    grain = pyvips.Image.gaussnoise(image.width, image.height, sigma=6, mean=0, seed=11)
    (image + grain).cast("uchar").write_to_file(str(path), Q=90)
    return path


def natural_photo(path: Path, width: int, height: int, left: int = 40, top: int = 40) -> Path:
    """A crop of a real photograph (scikit-image's astronaut, read as a file, never imported)."""
    source = distribution("scikit-image").locate_file("skimage/data/astronaut.png")
    pyvips.Image.new_from_file(str(source)).crop(left, top, width, height).write_to_file(str(path))
    return path
