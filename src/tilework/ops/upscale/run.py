"""What each ``upscale`` task does: prepare (cut tiles), tile (every pass), stitch, lanczos."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import pyvips

from tilework.core.jobs import JsonDict
from tilework.imaging.decode import pipeline_error, probe, srgb8
from tilework.imaging.encode import normalize, save
from tilework.imaging.stitch import stitched_image
from tilework.imaging.tiles import Tile
from tilework.ops.base import TaskContext
from tilework.ops.inputs import local_input
from tilework.ops.upscale.params import UpscaleParams, check_output
from tilework.ops.upscale.passes import Passes
from tilework.ops.upscale.remote import remote_tile
from tilework.superres.networks import network
from tilework.superres.pixels import Pixels

TILE_PNG_COMPRESSION = 1  # tiles are intermediates: fast to write beats small


def tile_input_key(ctx: TaskContext[Any], index: int) -> str:
    return ctx.output_key(f"tiles/in/{index}.png")


def tile_output_key(ctx: TaskContext[Any], index: int) -> str:
    return ctx.output_key(f"tiles/out/{index}.png")


# --- prepare --------------------------------------------------------------------------------


def prepare(ctx: TaskContext[UpscaleParams]) -> JsonDict:
    """Check the input, normalise it to 8-bit sRGB (alpha kept) and store each padded tile."""
    params = ctx.params
    with local_input(ctx) as source:
        _check_input(ctx, source)
        with ctx.step("cut_tiles"):
            try:
                # Random access: tiles are cropped in any order. The source is the small end
                # of an upscale, and libvips decodes it to disk past its memory threshold.
                image = srgb8(pyvips.Image.new_from_file(str(source), fail_on="truncated"))
                grid = params.grid(image.width, image.height)
                for tile in grid.tiles:
                    _store_tile_input(ctx, image, tile)
            except pyvips.Error as exc:
                raise pipeline_error(exc) from exc
    return {"width": image.width, "height": image.height, "bands": image.bands, "tiles": len(grid)}


def _check_input(ctx: TaskContext[UpscaleParams], source: Path) -> None:
    """The pixel limit from the header, and the output limits (URL inputs meet them here)."""
    with ctx.step("probe"):
        header = probe(source, ctx.settings.max_input_pixels, ctx.settings.max_input_frames)
        check_output(ctx.params, header.width, header.height, ctx.settings.max_output_pixels)


def _store_tile_input(ctx: TaskContext[UpscaleParams], image: pyvips.Image, tile: Tile) -> None:
    with ctx.scratch_file(".png") as path:
        image.crop(*tile.box).write_to_file(
            str(path), compression=TILE_PNG_COMPRESSION, keep="none"
        )
        ctx.objects.put_file(tile_input_key(ctx, tile.index), path)


# --- tile -----------------------------------------------------------------------------------


def upscale_tile(ctx: TaskContext[UpscaleParams]) -> JsonDict:
    """Run one padded tile through every pass to the final scale and store it (with lanczos
    instead when the payload says ``fallback``: the tile's substitute after its failures)."""
    params, index = ctx.params, int(ctx.task.payload["index"])
    fallback = bool(ctx.task.payload.get("fallback"))
    width, height = (int(v) for v in ctx.task.payload["size"])
    if params.provider is not None and not fallback:
        output_key = tile_output_key(ctx, index)
        return remote_tile(ctx, tile_input_key(ctx, index), output_key, (width, height))
    passes = Passes((), float(params.scale)) if fallback else params.passes
    with ctx.objects.readable(tile_input_key(ctx, index)) as source:
        image = pyvips.Image.new_from_file(str(source), fail_on="truncated")
        rgb, alpha = _pixels(image[:3]), image[3] if image.bands == 4 else None
    with ctx.step("fallback_tile" if fallback else "model"):
        for factor in passes.factors:
            net = network(params.model.value, factor, ctx.settings)
            rgb = net.upscale(rgb)
    with ctx.step("encode_tile"):
        out = _exact(_image(rgb), width * params.scale, height * params.scale)
        if alpha is not None:  # alpha is a mask, not a picture: lanczos is right for it
            out = out.bandjoin(_exact(alpha, out.width, out.height))
        with ctx.scratch_file(".png") as path:
            out.write_to_file(str(path), compression=TILE_PNG_COMPRESSION, keep="none")
            stored = ctx.objects.put_file(tile_output_key(ctx, index), path)
    return {"index": index, "key": stored.key, "fallback": fallback}


def _pixels(image: pyvips.Image) -> Pixels:
    data = image.write_to_memory()
    return np.frombuffer(data, dtype=np.uint8).reshape(image.height, image.width, image.bands)


def _image(rgb: Pixels) -> pyvips.Image:
    height, width, bands = rgb.shape
    image = pyvips.Image.new_from_memory(
        np.ascontiguousarray(rgb).data, width, height, bands, "uchar"
    )
    return image.copy(interpretation="srgb")


def _exact(image: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """Lanczos-resample to exactly ``width`` × ``height`` (a no-op when already there)."""
    if (image.width, image.height) == (width, height):
        return image
    resized = image.resize(width / image.width, vscale=height / image.height, kernel="lanczos3")
    # Rounding can leave the result a pixel short or long; pad by copying the edge, or crop.
    if (resized.width, resized.height) != (width, height):
        resized = resized.embed(0, 0, width, height, extend="copy")
    return resized


# --- stitch ---------------------------------------------------------------------------------


def stitch(ctx: TaskContext[UpscaleParams]) -> JsonDict:
    """Blend every stored tile into the output, strip by strip, and store the encoded file."""
    params, layout = ctx.params, ctx.task.payload["layout"]
    grid = params.grid(int(layout["width"]), int(layout["height"]))
    bands = int(layout["bands"])

    def open_tile(tile: Tile) -> AbstractContextManager[Path]:
        return ctx.objects.readable(tile_output_key(ctx, tile.index))

    with ctx.scratch_file(f".{params.format.extension}") as target:
        with ctx.step("stitch"):
            stream = stitched_image(grid, params.scale, bands, open_tile)
            try:
                save(normalize(stream.image, params.format), target, params.format, params.quality)
            except pyvips.Error as exc:
                stream.check()
                raise pipeline_error(exc) from exc
            stream.check()
        width, height = grid.width * params.scale, grid.height * params.scale
        return {"outputs": [ctx.store_output(target, params.format, width, height)]}


# --- lanczos --------------------------------------------------------------------------------


def lanczos(ctx: TaskContext[UpscaleParams]) -> JsonDict:
    """One streaming libvips pipeline: decode, resample, encode. No tiles are needed."""
    params = ctx.params
    with local_input(ctx) as source:
        _check_input(ctx, source)
        with ctx.scratch_file(f".{params.format.extension}") as target:
            with ctx.step("lanczos"):
                try:
                    image = pyvips.Image.new_from_file(
                        str(source), access="sequential", fail_on="truncated"
                    )
                    if image.get_typeof("orientation") and image.get("orientation") != 1:
                        image = image.autorot()
                    image = image.resize(params.scale, kernel="lanczos3")
                    save(normalize(image, params.format), target, params.format, params.quality)
                except pyvips.Error as exc:
                    raise pipeline_error(exc) from exc
            return {"outputs": [ctx.store_output(target, params.format, image.width, image.height)]}
