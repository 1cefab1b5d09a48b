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


# The picture every oriented JPEG shows when displayed as its EXIF tag says: four quadrants,
# so that each rotation and mirror puts a different colour in the top-left corner.
QUADRANTS = {
    "top_left": (220, 20, 20),
    "top_right": (20, 200, 20),
    "bottom_left": (20, 20, 220),
    "bottom_right": (235, 235, 235),
}
# How a viewer turns the stored pixels for each orientation (PIL's names; its rotations are
# counter-clockwise), and the inverse that stores an upright picture that way.
_DISPLAY = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_INVERSE = {
    Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270,
}


def oriented_jpeg(path: Path, orientation: int, width: int = 60, height: int = 40) -> Path:
    """A JPEG with EXIF orientation ``orientation`` that, displayed upright, is ``width`` by
    ``height`` in the four ``QUADRANTS``: its stored pixels are that picture turned the other
    way (for 5-8, ``height`` by ``width``)."""
    upright = Image.new("RGB", (width, height))
    half_w, half_h = width // 2, height // 2
    boxes = {
        "top_left": (0, 0, half_w, half_h),
        "top_right": (half_w, 0, width, half_h),
        "bottom_left": (0, half_h, half_w, height),
        "bottom_right": (half_w, half_h, width, height),
    }
    for corner, box in boxes.items():
        upright.paste(QUADRANTS[corner], box)
    stored = upright
    if orientation in _DISPLAY:
        display = _DISPLAY[orientation]
        stored = upright.transpose(_INVERSE.get(display, display))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    stored.save(path, "JPEG", exif=exif.tobytes(), quality=95)
    return path


def quadrant_colours(image: pyvips.Image) -> dict[str, str]:
    """Which of the ``QUADRANTS`` colours is at the middle of each quarter of ``image``."""
    points = {
        "top_left": (0.25, 0.25),
        "top_right": (0.75, 0.25),
        "bottom_left": (0.25, 0.75),
        "bottom_right": (0.75, 0.75),
    }
    found = {}
    for corner, (fx, fy) in points.items():
        pixel = image.getpoint(int(image.width * fx), int(image.height * fy))[:3]
        found[corner] = min(
            QUADRANTS,
            key=lambda name: sum((a - b) ** 2 for a, b in zip(QUADRANTS[name], pixel, strict=True)),
        )
    return found


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
