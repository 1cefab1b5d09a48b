"""A small image for the console (``imaging.previews`` makes them, ``store.previews`` keeps
them): its encoded bytes and size, a value the API process can hold without an image library."""

from __future__ import annotations

from dataclasses import dataclass

MEDIA_TYPE = "image/webp"


@dataclass(frozen=True)
class Preview:
    data: bytes
    width: int
    height: int
    media_type: str = MEDIA_TYPE
