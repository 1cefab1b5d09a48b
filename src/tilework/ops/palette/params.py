"""``palette``'s parameters: the palettes (lists of hex colours) and the outputs' encoding."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tilework.core.formats import OutputFormat

MAX_PALETTES = 32
MAX_COLOURS = 16
HEX_DIGITS = frozenset("0123456789abcdef")


def hex_colour(text: str) -> str:
    """``#rrggbb`` or ``#rgb``, ``#`` optional, any case: normalised to ``#rrggbb``."""
    digits = text.lower().removeprefix("#")
    if len(digits) == 3:
        digits = "".join(2 * digit for digit in digits)
    if len(digits) != 6 or not set(digits) <= HEX_DIGITS:
        raise ValueError(f"{text!r} is not a hex colour like #1a2b3c")
    return f"#{digits}"


def rgb(colour: str) -> tuple[int, int, int]:
    """A normalised ``#rrggbb`` as integers."""
    value = int(colour[1:], 16)
    return (value >> 16, (value >> 8) & 0xFF, value & 0xFF)


Colour = Annotated[str, AfterValidator(hex_colour)]
Palette = Annotated[list[Colour], Field(min_length=1, max_length=MAX_COLOURS)]


class PaletteFormat(StrEnum):
    WEBP = "webp"
    PNG = "png"


class PaletteParams(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"palettes": [["#1a2b3c", "#f0e0d0"], ["#ff8800"]]}]},
    )

    palettes: list[Palette] = Field(
        min_length=1,
        max_length=MAX_PALETTES,
        description="Palettes, each a list of hex colours; one output per palette, in order.",
    )
    format: PaletteFormat = Field(PaletteFormat.WEBP, description="webp or png.")
    quality: int = Field(80, ge=1, le=100, description="WebP quality (PNG is lossless).")

    @property
    def output_format(self) -> OutputFormat:
        return OutputFormat(self.format.value)
