"""The ``palette`` tasks: analyse the input once, then recolour, encode and upload one palette."""

from __future__ import annotations

from pathlib import Path

import pyvips

from tilework.core.jobs import JsonDict
from tilework.imaging.decode import probe, srgb8, vips_errors
from tilework.imaging.encode import normalize, save
from tilework.imaging.recolour import palette_lut, recolour, tone_sample, tones
from tilework.ops.base import TaskContext
from tilework.ops.inputs import local_input
from tilework.ops.palette.params import PaletteParams, rgb


def analyse(ctx: TaskContext[PaletteParams]) -> JsonDict:
    """Check the input, find its tones for each palette size, and make sure it is stored: a URL
    input is fetched here once, not once per palette."""
    with local_input(ctx) as source:
        with ctx.step("probe"):
            header = probe(source, ctx.settings.max_input_pixels, ctx.settings.max_input_frames)
        with ctx.step("analyse_tones"):
            with vips_errors():
                sample = tone_sample(srgb8(_open(source)))
            sizes = sorted({len(palette) for palette in ctx.params.palettes})
            found = {str(size): tones(sample, size) for size in sizes}
        key = ctx.input.get("key")
        if key is None:
            key = ctx.output_key("source")
            with ctx.step("store_source"):
                ctx.objects.put_file(key, source)
    return {"source": key, "tones": found, "width": header.width, "height": header.height}


def recolour_one(ctx: TaskContext[PaletteParams]) -> JsonDict:
    params, payload = ctx.params, ctx.task.payload
    index = int(payload["index"])
    colours = params.palettes[index]
    fmt = params.output_format
    with (
        ctx.objects.readable(payload["source"]) as source,
        ctx.scratch_file(f".{fmt.extension}") as target,
    ):
        with vips_errors():
            with ctx.step("process_palette"):
                lut = palette_lut(payload["tones"], [rgb(colour) for colour in colours])
                result = recolour(srgb8(_open(source)), lut)
            with ctx.step("encode_palette"):
                # libvips streams the decode and the lookup into the encoder: this one pass
                # does all the pixel work. An intermediate file to time them apart cost 0.3 s
                # of CPU per palette, and holding the recoloured image in memory 48 MiB.
                save(normalize(result, fmt), target, fmt, params.quality)
        output = ctx.store_output(
            target,
            fmt,
            result.width,
            result.height,
            name=f"palette-{index}",
            step="upload_palette",
        )
    return {"outputs": [output]}


def _open(source: Path) -> pyvips.Image:
    return pyvips.Image.new_from_file(str(source), access="sequential", fail_on="truncated")
