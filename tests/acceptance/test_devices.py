"""``TILEWORK_DEVICE``: the GPU path (a model process serving the task processes) end to end.

With ``torch-cpu`` the server runs exactly what it runs on a GPU machine, on the CPU: the pool
starts a model process, task processes send it their tiles, and the output must match the
ncnn path's in shape and within 40 dB PSNR.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pyvips

from tests.support import images
from tests.support.pixels import pixels, psnr
from tests.support.server import ServerProcess
from tilework.superres.devices import gpu_count


def upscaled(tmp_path: Path, source: Path, device: str) -> tuple[pyvips.Image, str]:
    server = ServerProcess(tmp_path / device, workers=2, device=device).start()
    try:
        with server.client() as client:
            key = client.upload(source)["key"]
            # Padded tiles of 96 pixels: ncnn runs them in 64-pixel pieces, the model
            # process in one window, so the two outputs differ a little, but only a little.
            params = {"scale": 4, "tile": 80, "overlap": 8}
            job = client.wait(client.submit("upscale", key=key, params=params)["id"], timeout=120)
            assert job["status"] == "succeeded", job
            out = tmp_path / f"{device}.png"
            out.write_bytes(httpx.get(job["outputs"][0]["url"], timeout=60).content)
    finally:
        assert server.stop() == 0, server.log()
    return pyvips.Image.new_from_file(str(out)), server.log()


def test_the_model_process_path_matches_the_ncnn_path(tmp_path: Path) -> None:
    source = images.natural_photo(tmp_path / "photo.png", 96, 72)
    served, log = upscaled(tmp_path, source, "torch-cpu")
    local, local_log = upscaled(tmp_path, source, "cpu")
    assert "model_process_started" in log and "event='model_loaded' device='cpu'" in log
    assert "model_process_started" not in local_log
    assert (served.width, served.height) == (local.width, local.height) == (384, 288)
    quality = psnr(pixels(served), pixels(local))
    print(f"torch-cpu model process vs ncnn: {quality:.1f} dB")
    assert quality >= 40.0


def test_an_unavailable_device_stops_the_server_with_its_reason(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "home", workers=1, device="cuda")
    if gpu_count():
        # A GPU machine, where the opposite holds: the server starts on it.
        server.start()
        assert server.stop() == 0, server.log()
        return
    try:
        server.start()
    except RuntimeError as exc:
        assert "no NVIDIA GPU is visible" in str(exc) or "no CUDA device" in str(exc)
    else:
        server.stop()
        raise AssertionError("the server started without the GPU it was told to use")
