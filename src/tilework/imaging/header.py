"""An image's size from its header bytes alone, in pure Python: no image library loaded.

The API checks uploads at submit (pixel limits, output sizes) with this, so its process never
loads libvips (about 10 MiB a process, and image code where none belongs). Workers still open
every input with libvips, strictly; this reads only the few fields that give the size.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.formats import SNIFF_BYTES, InputFormat, sniff_allowed

# JPEG SOF markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_MAX_SEGMENTS = 10_000  # a real file reaches its frame header within a few dozen
_HEIF_CONTAINERS = {b"meta": 4, b"iprp": 0, b"ipco": 0}  # box type -> header bytes to skip
_HEIF_MAX_BOXES = 10_000


@dataclass(frozen=True)
class ImageSize:
    format: InputFormat
    width: int
    height: int


def read_size(path: Path, max_pixels: int) -> ImageSize:
    """The format and size the file's header declares, checked against ``max_pixels``."""
    with path.open("rb") as handle:
        return read_size_of(handle, max_pixels)


def read_size_of(handle: BinaryIO, max_pixels: int) -> ImageSize:
    """The same from a seekable binary file (an object in remote storage, read on demand)."""
    fmt = sniff_allowed(handle.read(SNIFF_BYTES))
    handle.seek(0)
    try:
        width, height = _READERS[fmt](handle)
    except (struct.error, ValueError, IndexError) as exc:
        raise _corrupt(fmt) from exc
    check_pixels(width, height, max_pixels)
    return ImageSize(fmt, width, height)


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise TileworkError(ErrorCode.CORRUPT_IMAGE, "the image has no pixels")
    if width * height > max_pixels:
        raise TileworkError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"the image is {width}x{height}, more than {max_pixels} pixels",
            {"width": width, "height": height, "max_pixels": max_pixels},
        )


def _corrupt(fmt: InputFormat) -> TileworkError:
    return TileworkError(ErrorCode.CORRUPT_IMAGE, f"cannot read the {fmt.value} header")


def _exactly(handle: BinaryIO, count: int) -> bytes:
    data = handle.read(count)
    if len(data) != count:
        raise ValueError("the header ends early")
    return data


def _png(handle: BinaryIO) -> tuple[int, int]:
    # Signature (8), IHDR length and type (8), then width and height.
    head = _exactly(handle, 24)
    if head[12:16] != b"IHDR":
        raise ValueError("no IHDR first")
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _gif(handle: BinaryIO) -> tuple[int, int]:
    width, height = struct.unpack("<HH", _exactly(handle, 10)[6:10])
    return width, height


def _webp(handle: BinaryIO) -> tuple[int, int]:
    head = _exactly(handle, 30)
    chunk, body = head[12:16], head[20:30]
    if chunk == b"VP8 ":  # lossy: a key frame's start code, then 14-bit sizes
        if body[3:6] != b"\x9d\x01\x2a":
            raise ValueError("no VP8 start code")
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":  # lossless: a signature byte, then 14-bit sizes minus one
        if body[0] != 0x2F:
            raise ValueError("no VP8L signature")
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: 24-bit canvas sizes minus one
        return int.from_bytes(body[4:7], "little") + 1, int.from_bytes(body[7:10], "little") + 1
    raise ValueError("unknown WebP chunk")


def _jpeg(handle: BinaryIO) -> tuple[int, int]:
    handle.seek(2)
    for _ in range(_JPEG_MAX_SEGMENTS):
        marker = _exactly(handle, 2)
        while marker[1] == 0xFF:  # fill bytes before a marker
            marker = marker[1:] + _exactly(handle, 1)
        if marker[0] != 0xFF:
            raise ValueError("not a marker")
        code = marker[1]
        if code == 0xD8 or 0xD0 <= code <= 0xD7 or code == 0x01:
            continue  # markers without a length
        if code in (0xD9, 0xDA):
            raise ValueError("image data before a frame header")
        length = struct.unpack(">H", _exactly(handle, 2))[0]
        if length < 2:
            raise ValueError("bad segment length")
        if code in _JPEG_SOF:
            height, width = struct.unpack(">xHH", _exactly(handle, 5))
            return width, height
        handle.seek(length - 2, 1)
    raise ValueError("no frame header")


def _tiff(handle: BinaryIO) -> tuple[int, int]:
    head = _exactly(handle, 16)
    order = "<" if head[:2] == b"II" else ">"
    big = struct.unpack(order + "H", head[2:4])[0] == 43
    if big:  # BigTIFF: 8-byte offsets and counts, 20-byte entries
        (offset,) = struct.unpack(order + "Q", head[8:16])
        count_format, entry_size, value_at = order + "Q", 20, 12
    else:
        (offset,) = struct.unpack(order + "I", head[4:8])
        count_format, entry_size, value_at = order + "H", 12, 8
    handle.seek(offset)
    count_size = struct.calcsize(count_format)
    (entries,) = struct.unpack(count_format, _exactly(handle, count_size))
    sizes: dict[int, int] = {}
    for _ in range(min(entries, 4096)):
        entry = _exactly(handle, entry_size)
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4) or LONG8 (16)
            value_format = {3: "H", 4: "I", 16: "Q"}[kind]
            sizes[tag] = struct.unpack_from(order + value_format, entry, value_at)[0]
    return sizes[256], sizes[257]


def _heif(handle: BinaryIO) -> tuple[int, int]:
    """The largest ``ispe`` (image spatial extent) property: the primary image's, not a tile's
    or a thumbnail's, in every file libheif writes."""
    best = (0, 0)
    end = handle.seek(0, 2)
    position = 0
    for _ in range(_HEIF_MAX_BOXES):
        if position + 8 > end:
            break
        handle.seek(position)
        size, kind = struct.unpack(">I4s", _exactly(handle, 8))
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", _exactly(handle, 8))[0], 16
        elif size == 0:
            size = end - position
        if size < header:
            raise ValueError("bad box size")
        if kind in _HEIF_CONTAINERS:  # descend: the children follow this box's header
            position += header + _HEIF_CONTAINERS[kind]
            continue
        if kind == b"ispe":
            width, height = struct.unpack(">4xII", _exactly(handle, 12))
            best = max(best, (width, height), key=lambda pair: pair[0] * pair[1])
        position += size
    if best == (0, 0):
        raise ValueError("no ispe property")
    return best


_READERS = {
    InputFormat.PNG: _png,
    InputFormat.GIF: _gif,
    InputFormat.WEBP: _webp,
    InputFormat.JPEG: _jpeg,
    InputFormat.TIFF: _tiff,
    InputFormat.HEIF: _heif,
}
