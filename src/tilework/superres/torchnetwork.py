"""Real-ESRGAN with PyTorch: the shipped ncnn weights on a CUDA GPU (or the CPU, for tests).

Each image is cut into equal windows (its core plus ``WINDOW_PAD`` pixels of context, shifted
inward at the borders so that every window of an image has one shape); windows of one shape,
from any number of images, run as one batch. On CUDA the network runs in fp16 with
channels-last tensors, pixels cross the bus as bytes, and the pixels one batch may hold (hence
the window side and the batch size) come from the GPU's free memory, measured once per network.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from tilework.core.errors import ErrorCode, TileworkError
from tilework.superres.catalog import MODELS, weight_files
from tilework.superres.pixels import Pixels
from tilework.superres.torchgraph import load_module

# Context around each window's core, as Real-ESRGAN's ``tile_pad``.
WINDOW_PAD = 10
# Cap on a window's side: the padding's share is under 10% there, and larger windows only
# shrink the batch. Below it a window is as large as one batch's memory allows, so a small GPU
# gets small windows rather than running out of memory on one.
MAX_WINDOW = 512
MIN_WINDOW = 64
MAX_BATCH = 64
# Share of the GPU's free memory one batch may use; the rest is left to the allocator's cache,
# the other loaded networks and fragmentation.
MEMORY_SHARE = 0.5
PROBE_SIDE = 128
# On the CPU (tests, and a check of this path without a GPU) batches stay small.
CPU_BATCH_PIXELS = 4 * 128 * 128


@dataclass(frozen=True)
class Window:
    """One network run's input ``[y0, y0+h) × [x0, x0+w)`` and the core it contributes."""

    y0: int
    x0: int
    core: tuple[int, int, int, int]  # top, bottom, left, right, in source pixels


def windows(
    height: int, width: int, pad: int, max_side: int
) -> tuple[tuple[int, int], list[Window]]:
    """The equal-sized windows covering an image, and their shared ``(h, w)``."""
    rows, win_h = _axis(height, pad, max_side)
    cols, win_w = _axis(width, pad, max_side)
    cut = [
        Window(y0, x0, (top, bottom, left, right))
        for y0, top, bottom in rows
        for x0, left, right in cols
    ]
    return (win_h, win_w), cut


def _axis(length: int, pad: int, max_side: int) -> tuple[list[tuple[int, int, int]], int]:
    """Cores of near-equal size along one axis, each with the start of its window."""
    if length <= max_side:
        return [(0, 0, length)], length
    count = math.ceil(length / (max_side - 2 * pad))
    core = math.ceil(length / count)
    side = min(length, core + 2 * pad)
    spans = []
    for index in range(count):
        start, end = index * core, min(length, (index + 1) * core)
        if start >= end:
            break
        spans.append((max(0, min(start - pad, length - side)), start, end))
    return spans, side


class TorchNetwork:
    """One pass (model × factor) loaded on one device."""

    def __init__(self, model_name: str, factor: int, device: str, half: bool | None = None) -> None:
        """``half``: fp16 weights and activations in channels-last layout, the fast path on a
        GPU; by default on CUDA only (the tests turn it on for the CPU to check it)."""
        param, weights = weight_files(MODELS[model_name], factor)
        self.factor = factor
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        half = self.cuda if half is None else half
        self.dtype = torch.float16 if half else torch.float32
        self.memory_format = torch.channels_last if half else torch.contiguous_format
        module = load_module(param, weights).to(self.device, self.dtype)
        # Module.to takes memory_format at run time; torch's stubs do not list it.
        self.module = module.to(memory_format=self.memory_format)  # type: ignore[call-overload]
        self.batch_pixels = self._batch_pixels()

    def upscale(self, rgb: Pixels) -> Pixels:
        return self.upscale_many([rgb])[0]

    @torch.inference_mode()
    def upscale_many(self, images: list[Pixels]) -> list[Pixels]:
        """Every image ``(H, W, 3)`` to ``(H·f, W·f, 3)``; windows of one shape share batches.

        Inputs go to the device once, as bytes; windows are cut, batched and placed there, and
        each output comes back in one copy at the end, so nothing waits on the bus between
        batches and the GPU's queue never runs dry while the CPU stacks or places pixels.
        """
        f = self.factor
        sources = [torch.from_numpy(np.ascontiguousarray(i)).to(self.device) for i in images]
        outputs = [
            torch.empty((i.shape[0] * f, i.shape[1] * f, 3), dtype=torch.uint8, device=self.device)
            for i in images
        ]
        by_shape: dict[tuple[int, int], list[tuple[int, Window]]] = defaultdict(list)
        side = min(MAX_WINDOW, max(MIN_WINDOW, math.isqrt(self.batch_pixels)))
        for index, image in enumerate(images):
            shape, cut = windows(image.shape[0], image.shape[1], WINDOW_PAD, side)
            by_shape[shape].extend((index, window) for window in cut)
        for (win_h, win_w), members in by_shape.items():
            first = 0
            while first < len(members):
                # Re-read per batch: running out of memory lowers it for the rest.
                per_batch = max(1, min(MAX_BATCH, self.batch_pixels // (win_h * win_w)))
                batch = members[first : first + per_batch]
                inputs = torch.stack(
                    [sources[i][w.y0 : w.y0 + win_h, w.x0 : w.x0 + win_w] for i, w in batch]
                )
                for (index, window), result in zip(batch, self._run(inputs), strict=True):
                    _place(outputs[index], result, window, f)
                first += len(batch)
        return [out.cpu().numpy() for out in outputs]

    def _run(self, pixels: Tensor) -> Tensor:
        """A batch ``(B, h, w, 3)`` of bytes through the network, halving it if memory runs out."""
        try:
            return self._forward(pixels)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            if len(pixels) == 1:
                raise TileworkError(
                    ErrorCode.PIPELINE_ERROR, "the GPU ran out of memory for a single window"
                ) from None
            self.batch_pixels = max(1, self.batch_pixels // 2)
            half = len(pixels) // 2
            return torch.cat([self._run(pixels[:half]), self._run(pixels[half:])])

    def _forward(self, pixels: Tensor) -> Tensor:
        """Bytes ``(B, h, w, 3)`` on the device to bytes ``(B, h·f, w·f, 3)`` on the device."""
        x = pixels.permute(0, 3, 1, 2).to(self.dtype).div_(255.0)
        y: Tensor = self.module(x.contiguous(memory_format=self.memory_format))
        return y.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)

    def _batch_pixels(self) -> int:
        """Input pixels per batch."""
        return self._cuda_batch_pixels() if self.cuda else CPU_BATCH_PIXELS

    def _cuda_batch_pixels(self) -> int:
        """A share of free GPU memory over the bytes a probe run needed per input pixel."""
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        before = torch.cuda.memory_allocated(self.device)
        with torch.inference_mode():
            probe = torch.zeros((1, PROBE_SIDE, PROBE_SIDE, 3), dtype=torch.uint8)
            self._forward(probe.to(self.device))
        per_pixel = (torch.cuda.max_memory_allocated(self.device) - before) / PROBE_SIDE**2
        free, _total = torch.cuda.mem_get_info(self.device)
        return max(PROBE_SIDE**2, int(free * MEMORY_SHARE / max(per_pixel, 1.0)))


def _place(out: Tensor, result: Tensor, window: Window, f: int) -> None:
    top, bottom, left, right = window.core
    out[top * f : bottom * f, left * f : right * f] = result[
        (top - window.y0) * f : (bottom - window.y0) * f,
        (left - window.x0) * f : (right - window.x0) * f,
    ]
