"""``upscale``: tiled multi-pass super-resolution, or one streaming lanczos resample.

A neural upscale runs as three queue stages: ``prepare`` (one task: check and cut the source
into overlapping tiles), the tiles (one task per tile, each through every network pass to the
final scale) and ``stitch`` (one task: blend and encode the output in strips).
"""

from __future__ import annotations

from typing import Any, ClassVar

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import Finished, JobRecord, JsonDict, NextStage, PlannedTask, TaskRecord
from tilework.core.settings import Settings
from tilework.imaging.header import read_size_of
from tilework.objects.store import ObjectStore
from tilework.ops.base import CachePolicy, Operation
from tilework.ops.upscale.params import TileFailure, UpscaleParams, check_output
from tilework.superres.catalog import MODELS, weight_files

PREPARE, TILES, STITCH, FINISH = range(4)


class Upscale(Operation[UpscaleParams]):
    name = "upscale"
    Params = UpscaleParams
    cache = CachePolicy.ALWAYS  # the same input and params make the same bytes
    run_module = "tilework.ops.upscale.run"
    tasks: ClassVar[dict[str, str]] = {
        "prepare": "prepare",
        "tile": "upscale_tile",
        "stitch": "stitch",
        "lanczos": "lanczos",
    }

    def cache_variant(self, params: UpscaleParams, settings: Settings) -> str:
        """The device setting of a neural upscale run here: ncnn on the CPU and PyTorch on a
        GPU differ by a level or so in a few pixels."""
        return settings.device if params.neural and params.provider is None else ""

    def output_pixels(self, params: UpscaleParams, size: tuple[int, int]) -> float:
        return float(size[0] * size[1] * params.scale**2)

    def stages(self, params: UpscaleParams) -> list[str]:
        passes = params.passes
        if not params.neural:
            return [f"lanczos ×{params.scale}"]
        steps = " ".join(f"×{factor}" for factor in passes.factors)
        if passes.resample != 1:
            steps += f" lanczos ×{passes.resample:.3g}"
        return ["prepare", f"tiles: {params.model.value} {steps}", "stitch"]

    def admit(
        self, params: UpscaleParams, source: JsonDict, objects: ObjectStore, settings: Settings
    ) -> None:
        """Refuse at submit what cannot succeed: a missing model, an unknown provider, an output
        too large."""
        if params.provider is not None and params.provider not in settings.providers:
            known = ", ".join(sorted(settings.providers)) or "none are configured"
            raise TileworkError(
                ErrorCode.VALIDATION_FAILED,
                f"no provider {params.provider!r} (TILEWORK_PROVIDERS: {known})",
                {"errors": [{"field": "params.provider", "message": "unknown provider"}]},
            )
        if params.neural and params.provider is None:
            for factor in set(params.passes.factors):
                weight_files(MODELS[params.model.value], factor)
        if "key" in source:  # an uploaded input: its header is cheap to read, even remotely
            with objects.open(source["key"]) as handle:
                size = read_size_of(handle, settings.max_input_pixels)
            check_output(params, size.width, size.height, settings.max_output_pixels)

    def plan(
        self, job: JobRecord, params: UpscaleParams, stage: int, previous: list[TaskRecord]
    ) -> NextStage | Finished:
        if not params.neural:
            if stage == 0:
                return NextStage([PlannedTask("lanczos")])
            return Finished(_result(previous[0])["outputs"])
        if stage == PREPARE:
            return NextStage([PlannedTask("prepare")])
        if stage == TILES:
            return NextStage(_tile_tasks(params, _result(previous[0])))
        if stage == STITCH:
            degraded = _degraded(previous)
            layout = previous[0].payload["layout"]
            return NextStage([PlannedTask("stitch", {"layout": layout, "degraded": degraded})])
        stitched = previous[0]
        warnings = [
            f"tile {index} failed and was rendered with lanczos instead"
            for index in stitched.payload["degraded"]
        ]
        return Finished(_result(stitched)["outputs"], warnings)

    def substitute(
        self, job: JobRecord, params: UpscaleParams, task: TaskRecord, error: TileworkError
    ) -> PlannedTask | None:
        """With ``on_tile_failure=fallback``, a tile out of attempts is rendered with lanczos."""
        if task.kind != "tile" or params.on_tile_failure is not TileFailure.FALLBACK:
            return None
        if task.payload.get("fallback"):
            return None
        reason = f"{error.code.value}: {error.message}"
        return PlannedTask("tile", {**task.payload, "fallback": True, "reason": reason})


def _result(task: TaskRecord) -> dict[str, Any]:
    return dict(task.result or {})


def _tile_tasks(params: UpscaleParams, layout: JsonDict) -> list[PlannedTask]:
    grid = params.grid(int(layout["width"]), int(layout["height"]))
    return [
        PlannedTask("tile", {"index": tile.index, "size": list(tile.box[2:]), "layout": layout})
        for tile in grid.tiles
    ]


def _degraded(tiles: list[TaskRecord]) -> list[int]:
    """Indices of tiles that fell back to lanczos; more than half of them fails the job."""
    fallen = [task for task in tiles if _result(task).get("fallback")]
    if 2 * len(fallen) > len(tiles):
        first = fallen[0]
        code = ErrorCode(first.error_code) if first.error_code else ErrorCode.PIPELINE_ERROR
        raise TileworkError(
            code,
            f"{len(fallen)} of {len(tiles)} tiles failed (more than half); first: "
            f"{first.payload.get('reason', 'unknown error')}",
            {"degraded": [int(task.payload["index"]) for task in fallen]},
        )
    return [int(task.payload["index"]) for task in fallen]


operation = Upscale()
