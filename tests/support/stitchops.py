"""``upscale`` with its network swapped for lanczos, loaded with the plugins setting
``[*TEST_PLUGINS, STITCH_PLUGIN]``: the real prepare and stitch tasks over many real tiles, at a
small fraction of a network's time. It exists to measure the stitch on outputs of hundreds of
megapixels, which a network on two cores would take many minutes to make."""

from __future__ import annotations

import pyvips

from tilework.core.jobs import JsonDict
from tilework.ops.base import TaskContext
from tilework.ops.upscale.operation import Upscale
from tilework.ops.upscale.params import UpscaleParams
from tilework.ops.upscale.run import TILE_PNG_COMPRESSION, tile_input_key, tile_output_key

STITCH_PLUGIN = __name__


class LanczosTiles(Upscale):
    name = "test_lanczos_tiles"

    def run(self, ctx: TaskContext[UpscaleParams]) -> JsonDict:
        if ctx.task.kind != "tile":
            return super().run(ctx)
        index, scale = int(ctx.task.payload["index"]), ctx.params.scale
        with ctx.objects.readable(tile_input_key(ctx, index)) as source:
            # An integer scale: the tile comes out exactly scale × its input, as a network's.
            tile = pyvips.Image.new_from_file(str(source)).resize(scale, kernel="lanczos3")
            with ctx.scratch_file(".png") as path:
                tile.write_to_file(str(path), compression=TILE_PNG_COMPRESSION)
                stored = ctx.objects.put_file(tile_output_key(ctx, index), path)
        return {"index": index, "key": stored.key, "fallback": False}


operation = LanczosTiles()
