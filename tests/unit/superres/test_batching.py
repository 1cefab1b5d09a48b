"""The GPU backend's code on the CPU: windows, batches, fp16 and channels-last.

``TorchNetwork(..., half=True)`` is the configuration CUDA runs (fp16 weights and activations,
channels-last tensors, images cut into equal windows that share batches); only the device
differs. Its output must have the CPU path's shape and stay within 40 dB PSNR of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips
import torch

from tests.support.images import natural_photo
from tests.support.pixels import Pixels, pixels, psnr
from tilework.superres import torchnetwork
from tilework.superres.ncnn import network
from tilework.superres.torchnetwork import TorchNetwork, windows


@pytest.mark.parametrize(("height", "width"), [(1, 1), (40, 700), (513, 512), (1500, 997)])
@pytest.mark.parametrize("max_side", [64, 512])
def test_windows_cover_every_pixel_once_with_one_shape(
    height: int, width: int, max_side: int
) -> None:
    pad = 10
    (win_h, win_w), cut = windows(height, width, pad, max_side)
    for side, length in ((win_h, height), (win_w, width)):
        assert side == length if length <= max_side else side <= max_side
    covered = np.zeros((height, width), dtype=np.int32)
    for window in cut:
        top, bottom, left, right = window.core
        # The window lies inside the image and holds its core.
        assert 0 <= window.y0 <= top < bottom <= window.y0 + win_h <= height
        assert 0 <= window.x0 <= left < right <= window.x0 + win_w <= width
        # A core has its full context on every side that is not the image's edge.
        if top > 0:
            assert top - window.y0 >= pad
        if bottom < height:
            assert window.y0 + win_h - bottom >= pad
        covered[top:bottom, left:right] += 1
    assert (covered == 1).all()


def photo_pixels(tmp_path: Path, width: int, height: int, left: int = 40) -> Pixels:
    path = natural_photo(tmp_path / f"p{width}x{height}.png", width, height, left=left)
    return pixels(pyvips.Image.new_from_file(str(path)))


@pytest.mark.parametrize(
    ("name", "factor", "width", "height"),
    # x4plus is ~40× animevideov3's work, and fp16 on a CPU is slow: a smaller image.
    [("animevideov3", 4, 90, 70), ("animevideov3", 3, 90, 70), ("x4plus", 4, 60, 44)],
)
def test_the_gpu_configuration_matches_the_cpu_path(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    factor: int,
    width: int,
    height: int,
) -> None:
    # Small windows and batches, so that a small image still makes several batches of several.
    monkeypatch.setattr(torchnetwork, "MAX_WINDOW", 48)
    gpu_like = TorchNetwork(name, factor, "cpu", half=True)
    gpu_like.batch_pixels = 3 * 48 * 48
    assert gpu_like.dtype is torch.float16
    assert gpu_like.memory_format is torch.channels_last

    rgb = photo_pixels(tmp_path, width, height)
    ours, cpu = gpu_like.upscale(rgb), network(name, factor, 2).upscale(rgb)
    assert ours.shape == cpu.shape == (height * factor, width * factor, 3)
    quality = psnr(ours, cpu)
    print(f"{name} ×{factor}: fp16 windows vs ncnn sub-tiles {quality:.1f} dB")
    assert quality >= 40.0


def test_images_batched_together_come_out_as_if_run_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torchnetwork, "MAX_WINDOW", 40)
    net = TorchNetwork("animevideov3", 2, "cpu")
    net.batch_pixels = 8 * 40 * 40
    images = [
        photo_pixels(tmp_path, 60, 50),
        photo_pixels(tmp_path, 60, 50, left=200),  # the same shape: shares batches
        photo_pixels(tmp_path, 33, 75),  # another shape: batches of its own
    ]
    together = net.upscale_many(images)
    for image, batched in zip(images, together, strict=True):
        alone = net.upscale(image)
        assert batched.shape == alone.shape
        assert np.abs(batched.astype(np.int16) - alone.astype(np.int16)).max() <= 1


def test_little_memory_means_small_windows_one_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = TorchNetwork("animevideov3", 2, "cpu")
    net.batch_pixels = 80 * 80  # what a small GPU's free memory would allow
    forward = net._forward
    shapes: list[tuple[int, ...]] = []

    def recording(batch: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(batch.shape))
        return forward(batch)

    monkeypatch.setattr(net, "_forward", recording)
    rgb = photo_pixels(tmp_path, 200, 150)
    assert net.upscale(rgb).shape == (300, 400, 3)
    assert shapes and all(b == 1 and h <= 80 and w <= 80 for b, h, w, _ in shapes)


def test_a_window_too_large_for_memory_is_split_in_half(monkeypatch: pytest.MonkeyPatch) -> None:
    net = TorchNetwork("animevideov3", 2, "cpu")
    forward = net._forward
    seen: list[int] = []

    def short_of_memory(batch: torch.Tensor) -> torch.Tensor:
        seen.append(len(batch))
        if len(batch) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return forward(batch)

    monkeypatch.setattr(net, "_forward", short_of_memory)
    rng = np.random.default_rng(3)
    batch = torch.from_numpy(rng.integers(0, 256, (8, 24, 24, 3), np.uint8))
    with torch.inference_mode():
        out = net._run(batch)
        alone = forward(batch[5:6])[0]
    assert out.shape == (8, 48, 48, 3)
    assert seen[:3] == [8, 4, 2]
    assert net.batch_pixels < torchnetwork.CPU_BATCH_PIXELS
    assert (out[5].to(torch.int16) - alone.to(torch.int16)).abs().max() <= 1
