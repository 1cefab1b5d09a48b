"""Hostile files, made by the tests: decompression bombs, scan and frame floods, impostors.

Each is small on disk and aims at one weakness of a decoder; ``tests/acceptance/
test_hostile_inputs.py`` sends them all through a running server.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pyvips
from PIL import Image

from tests.support import images

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _small_png(width: int = 32, height: int = 24) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def _before_idat(png: bytes, extra: bytes) -> bytes:
    """``png`` with ``extra`` chunks placed right after IHDR (as iCCP must be)."""
    ihdr_end = len(PNG_SIGNATURE) + 8 + 13 + 4
    return png[:ihdr_end] + extra + png[ihdr_end:]


def _deflated(byte: bytes, count: int) -> bytes:
    """``count`` copies of ``byte``, deflated a MiB at a time (never all of it in memory)."""
    packer = zlib.compressobj(9)
    block = byte * (1 << 20)
    parts = [packer.compress(block) for _ in range(count >> 20)]
    return b"".join([*parts, packer.flush()])


def ztxt_bomb_png(path: Path, inflated_bytes: int = 256 << 20) -> Path:
    """A valid little PNG carrying a zTXt chunk that inflates to ``inflated_bytes`` of text."""
    text = _deflated(b"A", inflated_bytes)
    path.write_bytes(_before_idat(_small_png(), png_chunk(b"zTXt", b"Comment\0\0" + text)))
    return path


def iccp_bomb_png(path: Path, inflated_bytes: int = 256 << 20) -> Path:
    """A valid little PNG whose iCCP colour profile inflates to ``inflated_bytes``."""
    profile = _deflated(b"\0", inflated_bytes)
    path.write_bytes(_before_idat(_small_png(), png_chunk(b"iCCP", b"bomb\0\0" + profile)))
    return path


def many_scans_jpeg(path: Path, scans: int = 5000, side: int = 64) -> Path:
    """A progressive JPEG whose last scan is repeated ``scans`` times: every decoder pass walks
    the whole image again, so decoding cost grows with the scan count, not the file size."""
    buffer = io.BytesIO()
    Image.open(images.photo(path.with_suffix(".src.png"), side, side)).convert("RGB").save(
        buffer, "JPEG", progressive=True, quality=80
    )
    data = buffer.getvalue()
    last_scan = data.rindex(b"\xff\xda")
    scan = data[last_scan:-2]  # SOS header and its entropy-coded data, up to EOI
    path.write_bytes(data[:-2] + scan * scans + b"\xff\xd9")
    return path


def many_frames_gif(path: Path, frames: int = 100_000) -> Path:
    """A 1x1 GIF animation of ``frames`` frames, written by hand (about 20 bytes a frame)."""
    header = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\0\0\0"
    frame = (
        b"\x21\xf9\x04\x00\x01\x00\x00\x00"  # graphic control: 10 ms delay
        + b"\x2c"
        + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
        + b"\x02\x02\x44\x01\x00"  # LZW minimum code size 2, one sub-block, terminator
    )
    path.write_bytes(header + loop + frame * frames + b"\x3b")
    return path


def many_pages_tiff(path: Path, pages: int = 5000) -> Path:
    """A TIFF of ``pages`` 1x1 pages, each its own IFD. libvips writes a tall image with a
    page height as pages, in a tenth of a second (Pillow's writer takes 20 s for 5000)."""
    strip = pyvips.Image.black(1, pages).cast("uchar").copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", 1)
    strip.tiffsave(str(path))
    return path


def large_smooth_jpeg(path: Path, side: int = 8000) -> Path:
    """A JPEG within the pixel limit whose pixels decode to far more than its file: ``side``²
    RGB (183 MiB at 8000) in about 1 MB. Only a decoder that shrinks while it loads stays small."""
    colour = pyvips.Image.black(side, side, bands=3).linear(1, [90, 140, 200])
    ramp = pyvips.Image.xyz(side, side)[0] // 64  # a gentle ramp: compresses well, not flat
    (colour + ramp).cast("uchar").jpegsave(str(path), Q=80)
    return path


def svg_with_external_entity(path: Path) -> Path:
    path.write_text(
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE svg [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        "<text>&secret;</text></svg>\n"
    )
    return path


def eps_named_png(path: Path) -> Path:
    path.write_text(
        "%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
        "(/etc/passwd) (r) file closefile\nshowpage\n"
    )
    return path


def pdf_named_png(path: Path) -> Path:
    path.write_bytes(
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    return path


def html_page(path: Path) -> Path:
    path.write_text("<!doctype html><html><body><img src=x onerror=alert(1)></body></html>\n")
    return path


def zero_width_png(path: Path) -> Path:
    return images.huge_header_png(path, 0, 10)
