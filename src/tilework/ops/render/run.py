"""The ``render`` stages. Each reads what the stages before it stored and stores its own image
under ``jobs/<id>/render/``; its result (carried to the next stage as its payload) says what
the later stages need to know."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pyvips

from tilework.core.errors import TileworkError
from tilework.core.formats import OutputFormat
from tilework.core.jobs import JsonDict
from tilework.core.sources import SourceSpec
from tilework.imaging.decode import probe, srgb8, vips_errors
from tilework.imaging.encode import WHITE, save
from tilework.imaging.projection import project, refine
from tilework.imaging.region import Box, bounding_box, estimate_region, mask_region
from tilework.ops.base import TaskContext
from tilework.ops.inputs import local_copy, local_input
from tilework.ops.render.params import RenderParams

Context = TaskContext[RenderParams]
STAGE_PNG_COMPRESSION = 1  # intermediates are read once or twice: speed over size
EMPTY_REGION = "the region is empty: the image is returned unchanged"


def fetch(ctx: Context) -> JsonDict:
    """Fetch the photo, texture and mask; store each upright, 8-bit sRGB and opaque."""
    params = ctx.params
    with local_input(ctx) as path:
        image = _stored(ctx, "image", path, "image_url")
    with _fetched(ctx, params.texture, "texture_url") as path:
        _stored(ctx, "texture", path, "texture_url")
    if params.mask is not None:
        with _fetched(ctx, params.mask, "mask_url") as path:
            _stored(ctx, "mask", path, "mask_url")
    return {"width": image.width, "height": image.height, "mask": params.mask is not None}


def region(ctx: Context) -> JsonDict:
    payload = ctx.task.payload
    with _images(ctx, "image", *(["mask"] if payload["mask"] else [])) as found:
        image = found["image"]
        with ctx.step("region"):
            if payload["mask"]:
                area = mask_region(found["mask"], image.width, image.height)
            else:
                area = estimate_region(image)
            _store(ctx, "region", area)
    # Measured on the stored region: reading it back is cheaper than running the estimate's
    # pipeline (Lab conversion, median) twice more.
    with _images(ctx, "region") as stored:
        box = bounding_box(stored["region"])
        coverage = round(stored["region"].avg() / 255, 4)
    place = None if box is None else [box.left, box.top, box.width, box.height]
    return {**payload, "box": place, "coverage": coverage}


def projection(ctx: Context) -> JsonDict:
    payload = ctx.task.payload
    with _images(ctx, "image", "texture", "region") as found, ctx.step("project"):
        if payload["box"] is None:
            result = found["image"]
        else:
            box = Box(*payload["box"])
            result = project(
                found["image"], found["texture"], found["region"], box, ctx.params.real_world_scale
            )
        _store(ctx, "projected", result)
    return payload


def refinement(ctx: Context) -> JsonDict:
    payload = ctx.task.payload
    with _images(ctx, "image", "projected", "region") as found, ctx.step("refine"):
        seed = ctx.params.refinement_seed
        _store(ctx, "refined", refine(found["image"], found["projected"], found["region"], seed))
    return payload


def store(ctx: Context) -> JsonDict:
    """Encode the last stage's image as the PNG result and upload it."""
    params = ctx.params
    last = "refined" if params.enable_refinement else "projected"
    with _images(ctx, last) as found, ctx.scratch_file(".png") as target:
        result = found[last]
        with ctx.step("encode"), vips_errors():
            save(result, target, OutputFormat.PNG, quality=100)
        output = ctx.store_output(
            target,
            OutputFormat.PNG,
            result.width,
            result.height,
            key=params.result_key(ctx.job_id),
            step="upload",
        )
    warnings = [EMPTY_REGION] if ctx.task.payload.get("box") is None else []
    return {"outputs": [output], "warnings": warnings}


def _stage_key(ctx: Context, name: str) -> str:
    return ctx.output_key(f"render/{name}.png")


@contextmanager
def _fetched(ctx: Context, source: SourceSpec, field: str) -> Iterator[Path]:
    """A local copy of a texture or mask; a failed fetch names the field it came from."""
    with ExitStack() as held:
        with _naming(field), ctx.step("download"):
            path = held.enter_context(
                local_copy(ctx, source.model_dump(mode="json", exclude_none=True))
            )
        yield path


def _stored(ctx: Context, name: str, path: Path, field: str) -> pyvips.Image:
    """Check one input and store it normalised; returns it as stored."""
    with _naming(field), ctx.step("probe"):
        probe(path, ctx.settings.max_input_pixels, ctx.settings.max_input_frames)
    with vips_errors():
        image = srgb8(pyvips.Image.new_from_file(str(path), fail_on="truncated"))
        if image.hasalpha():
            image = image.flatten(background=WHITE)
        _store(ctx, name, image)
    return image


@contextmanager
def _naming(field: str) -> Iterator[None]:
    """A failure inside names the request field it came from (``texture_url: …``)."""
    try:
        yield
    except TileworkError as error:
        raise TileworkError(
            error.code,
            f"{field}: {error.message}",
            {**error.details, "field": field},
            retryable=error.retryable,
        ) from error


def _store(ctx: Context, name: str, image: pyvips.Image) -> None:
    with ctx.scratch_file(".png") as path:
        with vips_errors():
            image.pngsave(str(path), compression=STAGE_PNG_COMPRESSION, keep="none")
        ctx.objects.put_file(_stage_key(ctx, name), path)


@contextmanager
def _images(ctx: Context, *names: str) -> Iterator[dict[str, pyvips.Image]]:
    """The named stage images, open (random access: a stage may read one twice)."""
    with ExitStack() as held, vips_errors():
        paths = {
            name: held.enter_context(ctx.objects.readable(_stage_key(ctx, name))) for name in names
        }
        yield {name: pyvips.Image.new_from_file(str(path)) for name, path in paths.items()}
