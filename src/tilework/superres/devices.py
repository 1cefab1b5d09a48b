"""Which devices run super-resolution, decided without importing torch.

The worker pool asks this at start: importing torch costs seconds and hundreds of MiB, which a
process that never touches a GPU should not pay. The model process confirms with torch itself.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from tilework.core.errors import ErrorCode, TileworkError

DEVICE_FILES = Path("/dev")
DEVICE_FILE = re.compile(r"nvidia\d+$")


def gpu_count() -> int:
    """NVIDIA GPUs the CUDA runtime would show: the driver's device files, narrowed by
    ``CUDA_VISIBLE_DEVICES`` (CUDA's own variable, read here as the runtime would)."""
    try:
        present = sum(1 for entry in DEVICE_FILES.iterdir() if DEVICE_FILE.match(entry.name))
    except OSError:
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return present
    listed = 0
    for item in visible.split(","):
        item = item.strip()
        # CUDA stops at the first entry that names no device ("-1" hides them all).
        if not item or item.startswith("-"):
            break
        listed += 1
    return min(present, listed)


def model_devices(setting: str) -> list[str]:
    """The torch devices that get a model process each; empty means ncnn in the task process."""
    if setting == "cpu" or (setting == "auto" and importlib.util.find_spec("torch") is None):
        return []
    if setting != "auto":
        _require_torch(setting)
    if setting == "torch-cpu":
        return ["cpu"]
    count = gpu_count()
    if setting == "cuda" and not count:
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED,
            "TILEWORK_DEVICE=cuda but no NVIDIA GPU is visible (no /dev/nvidiaN, or "
            "CUDA_VISIBLE_DEVICES hides them all)",
        )
    return [f"cuda:{index}" for index in range(count)]


def _require_torch(setting: str) -> None:
    if importlib.util.find_spec("torch") is None:
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED,
            f"TILEWORK_DEVICE={setting} needs PyTorch: pip install 'tilework[gpu]'",
        )
