"""The PyTorch module built from ncnn files computes what ncnn computes, for all five passes.

ncnn runs the files itself (CPU); PyTorch runs the module built by ``torchgraph`` in fp32. After
both are rounded to 8 bits, no pixel may differ by more than one level (1/255).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
import pyvips
import torch

from tests.support.images import natural_photo
from tests.support.networks import PASSES
from tests.support.pixels import Pixels, pixels
from tilework.superres.catalog import MODELS, weight_files
from tilework.superres.ncnn import MAX_RUN_SIDE, network
from tilework.superres.torchgraph import NcnnModule, load_module


@cache
def module(name: str, factor: int) -> NcnnModule:
    return load_module(*weight_files(MODELS[name], factor))


def through_torch(rgb: Pixels, name: str, factor: int) -> Pixels:
    x = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
    with torch.inference_mode():
        y = module(name, factor)(x)[0]
    out: Pixels = y.mul(255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return out


def through_ncnn(rgb: Pixels, name: str, factor: int) -> Pixels:
    # No wider than one ncnn run, so ncnn sees the whole input at once, as the module does.
    assert max(rgb.shape[:2]) <= MAX_RUN_SIDE
    return network(name, factor, 2).upscale(rgb)


def random_input(height: int, width: int) -> Pixels:
    return np.random.default_rng(height * width).integers(0, 256, (height, width, 3), np.uint8)


def natural_input(tmp_path: Path, height: int, width: int) -> Pixels:
    path = natural_photo(tmp_path / "photo.png", width, height, left=180, top=60)
    return pixels(pyvips.Image.new_from_file(str(path)))


@pytest.mark.parametrize(("name", "factor"), PASSES)
@pytest.mark.parametrize("kind", ["random", "natural"])
def test_torch_and_ncnn_agree_within_one_level(
    tmp_path: Path, name: str, factor: int, kind: str
) -> None:
    # Odd, unequal sides: the resizes and the pixel shuffle must not assume square or even.
    rgb = random_input(37, 50) if kind == "random" else natural_input(tmp_path, 45, 31)
    theirs, ours = through_ncnn(rgb, name, factor), through_torch(rgb, name, factor)
    height, width, _ = rgb.shape
    assert ours.shape == theirs.shape == (height * factor, width * factor, 3)
    difference = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
    print(f"{name} ×{factor} {kind}: max {difference.max()}, {np.mean(difference > 0):.2%} differ")
    assert difference.max() <= 1
    # A network, not a resize: the output is far from a bicubic enlargement of the input.
    bicubic = pixels(
        pyvips.Image.new_from_memory(rgb.tobytes(), width, height, 3, "uchar").resize(
            factor, kernel="cubic"
        )
    )[: height * factor, : width * factor]
    assert np.abs(ours.astype(np.int16) - bicubic.astype(np.int16)).mean() > 1.0
