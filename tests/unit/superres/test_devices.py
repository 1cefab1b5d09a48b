"""Which GPUs get a model process, read as the CUDA runtime would: the driver's device files
in a folder of the test's making, narrowed by ``CUDA_VISIBLE_DEVICES``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tilework.core.errors import TileworkError
from tilework.superres import devices


@pytest.fixture
def four_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("nvidia0", "nvidia1", "nvidia2", "nvidia3", "nvidiactl", "nvidia-uvm", "null"):
        (tmp_path / name).touch()
    monkeypatch.setattr(devices, "DEVICE_FILES", tmp_path)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return tmp_path


@pytest.mark.parametrize(
    ("visible", "count"),
    [
        (None, 4),  # unset: every device file
        ("0,2", 2),
        ("3", 1),
        ("0,1,2,3,4,5", 4),  # no more than there are
        ("1,-1,2", 1),  # CUDA stops at the first entry that names no device
        ("-1", 0),
        ("", 0),
    ],
)
def test_the_visible_gpus_are_the_device_files_narrowed_by_cuda_visible_devices(
    four_gpus: Path, monkeypatch: pytest.MonkeyPatch, visible: str | None, count: int
) -> None:
    if visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert devices.gpu_count() == count


def test_no_device_folder_means_no_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "DEVICE_FILES", tmp_path / "missing")
    assert devices.gpu_count() == 0


def test_cuda_asked_for_with_every_gpu_hidden_is_refused_with_its_reason(
    four_gpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch", reason="TILEWORK_DEVICE=cuda needs torch installed")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    with pytest.raises(TileworkError, match="no NVIDIA GPU is visible"):
        devices.model_devices("cuda")


def test_each_visible_gpu_gets_a_model_process_numbered_as_cuda_numbers_them(
    four_gpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch", reason="model processes run on torch")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,3")
    # CUDA shows the visible devices as 0 and 1, whatever their numbers on the machine.
    assert devices.model_devices("auto") == devices.model_devices("cuda") == ["cuda:0", "cuda:1"]
    assert devices.model_devices("cpu") == []
    assert devices.model_devices("torch-cpu") == ["cpu"]
