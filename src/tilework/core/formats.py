"""Image formats tilework reads and writes; inputs are recognised by their bytes, never names."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from tilework.core.errors import ErrorCode, TileworkError

SNIFF_BYTES = 32
_HEIF_BRANDS = {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"}


class InputFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    GIF = "gif"
    TIFF = "tiff"
    HEIF = "heif"  # AVIF and HEIC share the HEIF container and libvips loader

    @property
    def loader(self) -> str:
        return f"{self.value}load"

    @property
    def media_type(self) -> str:
        return f"image/{self.value}"


class OutputFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    AVIF = "avif"
    TIFF = "tiff"

    @property
    def extension(self) -> str:
        return "jpg" if self is OutputFormat.JPEG else self.value

    @property
    def has_alpha(self) -> bool:
        return self is not OutputFormat.JPEG


def sniff(head: bytes) -> InputFormat | None:
    """The format the first bytes announce, or None for anything not on the allow-list."""
    if head.startswith(b"\xff\xd8\xff"):
        return InputFormat.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return InputFormat.PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return InputFormat.WEBP
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return InputFormat.GIF
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return InputFormat.TIFF
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return InputFormat.HEIF
    return None


def sniff_file(path: Path) -> InputFormat:
    with path.open("rb") as handle:
        return sniff_allowed(handle.read(SNIFF_BYTES))


def sniff_allowed(head: bytes) -> InputFormat:
    """The format of ``head``, or ``unsupported_format`` for anything not on the allow-list."""
    found = sniff(head)
    if found is None:
        raise TileworkError(
            ErrorCode.UNSUPPORTED_FORMAT,
            "the input is not a JPEG, PNG, WebP, GIF, TIFF, AVIF or HEIF image",
            {"first_bytes": head[:8].hex()},
        )
    return found
