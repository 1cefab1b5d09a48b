"""The CUDA path, checked on a real NVIDIA GPU: run by hand where one is lent, never by
``make test`` (no test machine has a GPU). Exits 0 when every check holds, 1 otherwise; each
check prints one line.

    .venv/bin/python tests/gpu/check.py          # needs torch with CUDA: make install-torch

1. Equality: every shipped pass on the GPU (fp16, channels-last, batched windows) within 40 dB
   PSNR of the CPU path (ncnn), on a natural photo.
2. A real out-of-memory: with the GPU's memory nearly all taken, a batch that cannot fit is
   halved until it does (``TorchNetwork._run``), and the result equals an unhalved run.
3. One model process per visible GPU: ``model_devices("cuda")`` lists one device per GPU,
   and ``ModelProcesses`` starts one process for each.
4. ``CUDA_VISIBLE_DEVICES``: ``gpu_count()`` agrees with torch's own count when it narrows
   the GPUs to the first one, and when it hides them all.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyvips
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the tests' helpers; tilework itself is installed in the venv

from tests.support.images import natural_photo  # noqa: E402
from tests.support.networks import PASSES  # noqa: E402
from tests.support.pixels import Pixels, pixels, psnr  # noqa: E402

from tilework.superres import torchnetwork  # noqa: E402
from tilework.superres.devices import gpu_count, model_devices  # noqa: E402
from tilework.superres.ncnn import network  # noqa: E402
from tilework.superres.processes import ModelProcesses  # noqa: E402
from tilework.superres.torchnetwork import TorchNetwork  # noqa: E402

EQUAL_DB = 40.0


def photo(folder: Path, width: int, height: int) -> Pixels:
    path = natural_photo(folder / f"p{width}x{height}.png", width, height)
    return pixels(pyvips.Image.new_from_file(str(path)))


def equal_to_the_cpu_path(folder: Path) -> str:
    rgb = photo(folder, 200, 150)
    worst = []
    for name, factor in PASSES:
        gpu = TorchNetwork(name, factor, "cuda:0").upscale(rgb)
        cpu = network(name, factor, os.cpu_count() or 2).upscale(rgb)
        quality = psnr(gpu, cpu)
        assert gpu.shape == cpu.shape, (name, factor, gpu.shape, cpu.shape)
        assert quality >= EQUAL_DB, f"{name} ×{factor}: {quality:.1f} dB"
        worst.append(f"{name}×{factor} {quality:.1f} dB")
    return ", ".join(worst)


def halves_on_a_real_out_of_memory(folder: Path) -> str:
    net = TorchNetwork("animevideov3", 4, "cuda:0")
    images = [photo(folder, 480, 480) for _ in range(8)]
    reference = [net.upscale(image) for image in images]  # one at a time: fits
    net.batch_pixels = 8 * torchnetwork.MAX_WINDOW**2  # all eight windows in one batch
    free, _ = torch.cuda.mem_get_info(0)
    # Leave about what one window needs, so the batch of eight cannot fit.
    hog = torch.empty(max(0, free - (768 << 20)), dtype=torch.uint8, device="cuda:0")
    try:
        before = net.batch_pixels
        together = net.upscale_many(images)
    finally:
        del hog
        torch.cuda.empty_cache()
    assert net.batch_pixels < before, "no out-of-memory happened: the batch was never halved"
    for alone, batched in zip(reference, together, strict=True):
        assert np.abs(alone.astype(np.int16) - batched.astype(np.int16)).max() <= 1
    return f"batch {before} → {net.batch_pixels} input pixels, same output"


def one_model_process_per_gpu(_folder: Path) -> str:
    devices = model_devices("cuda")
    assert len(devices) == torch.cuda.device_count() == gpu_count(), devices
    processes = ModelProcesses(devices, required=True)
    processes.start()
    try:
        running = [p for p in processes._processes if p is not None and p.poll() is None]
        assert len(running) == len(devices), (running, devices)
    finally:
        processes.stop()
    return f"{len(devices)} GPU(s), {len(devices)} model process(es)"


def visible_devices_narrow(_folder: Path) -> str:
    counts = {}
    for visible in ("0", "-1"):
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": visible}
        code = (
            "import sys, torch; sys.path[:0] = sys.argv[1:];"
            "from tilework.superres.devices import gpu_count;"
            "print(gpu_count(), torch.cuda.device_count())"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(ROOT / "src")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        ours, torchs = int(out[0]), int(out[1])
        assert ours == torchs, (visible, ours, torchs)
        counts[visible] = ours
    assert counts == {"0": 1, "-1": 0}, counts
    return "CUDA_VISIBLE_DEVICES=0 → 1, =-1 → 0 (torch agrees)"


CHECKS: list[tuple[str, Callable[[Path], str]]] = [
    ("equal to the CPU path", equal_to_the_cpu_path),
    ("halves on a real out-of-memory", halves_on_a_real_out_of_memory),
    ("one model process per GPU", one_model_process_per_gpu),
    ("CUDA_VISIBLE_DEVICES", visible_devices_narrow),
]


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device visible to torch: nothing to check here")
        return 1
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    failed = 0
    with tempfile.TemporaryDirectory() as folder:
        for title, check in CHECKS:
            try:
                print(f"ok    {title}: {check(Path(folder))}")
            except Exception as exc:  # report every check, not only the first to fail
                failed += 1
                print(f"FAIL  {title}: {type(exc).__name__}: {exc}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
