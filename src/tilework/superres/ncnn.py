"""Real-ESRGAN super-resolution on CPU with the ``ncnn`` package.

The three animevideov3 files hold the same ×4 network; the ×3 and ×2 variants end in a bicubic
downscale. Whatever the factor, a pass costs one ×4 network run over its input.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from tilework.core.errors import ErrorCode, TileworkError
from tilework.imaging.tiles import split
from tilework.superres.catalog import MODELS, Model, weight_files
from tilework.superres.pixels import Pixels

# Largest input side a single network run sees. Larger passes are cut into sub-tiles: a run's
# activations, winograd buffers and result copies grow with its area. Measured on a 690² ×4
# pass with one thread: 128 adds 122 MiB at its peak in 3.4 s, 96 adds 92 MiB in 3.6 s, 64 adds
# 63 MiB in 3.9 s. The padding recomputed around each sub-tile is what makes small runs slower.
MAX_RUN_SIDE = 64
# Context around each sub-tile of a run, as Real-ESRGAN's own ``tile_pad``: less than the
# receptive radius (animevideov3: 18 3×3 convolutions, 18 pixels; the RRDB models see further),
# so not bit-exact, but padding is recomputed work; the job's tile overlap, which is blended,
# is what hides seams.
RUN_PAD = 8


class Network:
    """One loaded pass (model × factor), run on RGB tiles of any size."""

    def __init__(self, model: Model, factor: int, threads: int) -> None:
        import ncnn  # imported here: only the processes that run models pay for it

        param, weights = weight_files(model, factor)
        self.factor = factor
        self._net: Any = ncnn.Net()
        self._net.opt.use_vulkan_compute = False
        self._net.opt.num_threads = threads
        blobs, workspace = _allocators()
        self._net.opt.blob_allocator = blobs
        self._net.opt.workspace_allocator = workspace
        self._net.load_param(str(param))
        self._net.load_model(str(weights))
        self._mat = ncnn.Mat

    def upscale(self, rgb: Pixels) -> Pixels:
        """``rgb`` (H, W, 3) to (H·f, W·f, 3), in sub-tiles padded with ``RUN_PAD`` pixels.

        Each sub-tile's padded result is cropped to its core; 8-bit rounding between passes
        matches what a saved image would hold.
        """
        try:
            return self._upscale(rgb)
        finally:
            # Pooled buffers are kept for reuse between runs of one pass; between passes (and
            # tiles) their sizes change, so hand them back rather than let every size pile up.
            for allocator in _allocators():
                allocator.clear()

    def _upscale(self, rgb: Pixels) -> Pixels:
        height, width, _ = rgb.shape
        f = self.factor
        out = np.empty((height * f, width * f, 3), dtype=np.uint8)
        for y in split(height, MAX_RUN_SIDE, RUN_PAD):
            for x in split(width, MAX_RUN_SIDE, RUN_PAD):
                result = self._run(rgb[y.lo : y.hi, x.lo : x.hi])
                out[y.start * f : y.end * f, x.start * f : x.end * f] = result[
                    (y.start - y.lo) * f : (y.end - y.lo) * f,
                    (x.start - x.lo) * f : (x.end - x.lo) * f,
                ]
        return out

    def _run(self, rgb: Pixels) -> Pixels:
        planar = np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32)
        planar *= 1.0 / 255.0
        extractor = self._net.create_extractor()
        extractor.input("data", self._mat(planar))
        status, result = extractor.extract("output")
        if status != 0:
            raise TileworkError(ErrorCode.PIPELINE_ERROR, f"ncnn inference failed ({status})")
        values = np.array(result)
        values *= 255.0
        np.rint(values, out=values)
        pixels: Pixels = np.clip(values, 0, 255).astype(np.uint8).transpose(1, 2, 0)
        return pixels


@cache
def _allocators() -> tuple[Any, Any]:
    """One pool of blob and one of workspace memory per process, shared by every network:
    each network's own pools would each grow to the largest run it has seen."""
    import ncnn

    return ncnn.PoolAllocator(), ncnn.PoolAllocator()


@cache
def network(model_name: str, factor: int, threads: int) -> Network:
    """Load a pass once per process; the weights are reused by every tile that process runs."""
    return Network(MODELS[model_name], factor, threads)
