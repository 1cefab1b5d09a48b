"""Feed pixels computed in Python to a libvips pipeline, strip by strip, in bounded memory.

libvips can only stream from a source through a loader, and the loaders in the binary wheel do
not include a raw or PPM one that reads from a source. So the strips are wrapped as an
*uncompressed* PNG (zlib level 0: stored blocks, no compression work) that libvips decodes
sequentially as its encoder asks for rows. Nothing but the current strip is ever held.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator

import numpy as np
import numpy.typing as npt
import pyvips

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # bands -> PNG colour type (grey, grey+alpha, RGB, RGBA)

Strip = npt.NDArray[np.uint8]


def png_stream(width: int, height: int, bands: int, strips: Iterable[Strip]) -> Iterator[bytes]:
    """The bytes of a PNG whose rows are ``strips`` (each ``(rows, width, bands)`` uint8)."""
    yield _SIGNATURE
    yield _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPE[bands], 0, 0, 0))
    packer = zlib.compressobj(0)
    rows = 0
    for strip in strips:
        if strip.shape[1:] != (width, bands):
            raise ValueError(f"strip shape {strip.shape} does not match {width}x{bands}")
        rows += strip.shape[0]
        filtered = np.zeros((strip.shape[0], width * bands + 1), dtype=np.uint8)
        filtered[:, 1:] = strip.reshape(strip.shape[0], -1)  # filter byte 0: rows stored as is
        data = packer.compress(filtered.tobytes())
        if data:
            yield _chunk(b"IDAT", data)
    if rows != height:
        raise ValueError(f"the strips held {rows} rows, not {height}")
    yield _chunk(b"IDAT", packer.flush())
    yield _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


class PixelStream:
    """A sequential libvips image whose pixels are pulled from ``strips`` as it is encoded.

    An exception raised while computing a strip cannot cross libvips' C callback; it is kept
    here and re-raised by ``check`` once the encoder has given up on the truncated stream.
    """

    def __init__(self, width: int, height: int, bands: int, strips: Iterable[Strip]) -> None:
        self._chunks = png_stream(width, height, bands, strips)
        self._pending = bytearray()
        self.error: BaseException | None = None
        source = pyvips.SourceCustom()
        source.on_read(self._read)
        self.image = pyvips.Image.new_from_source(
            source, "", access="sequential", fail_on="truncated"
        )

    def _read(self, size: int) -> bytes:
        try:
            while len(self._pending) < size:
                more = next(self._chunks, None)
                if more is None:
                    break
                self._pending.extend(more)
        except Exception as exc:  # handed back to the caller by check()
            self.error = exc
            return b""
        out = bytes(self._pending[:size])
        del self._pending[:size]
        return out

    def check(self) -> None:
        if self.error is not None:
            raise self.error
