"""The hostile battery: every kind of bad input through one running server, each ending with
its own code, while the server keeps answering and its task processes stay small.

An input is uploaded (or served from a URL), then resized; whichever step refuses it first
gives the code: the upload (415, 413, 422), the submit (413 from the header), or the job.
Each input is measured alone: the task processes' peaks are reset before it is sent, and
after it their growth must stay far below what the input could inflate to (the bombs hold
256 MiB, the large JPEG decodes to 183 MiB), with the same task processes still running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pyvips

from tests.support import bombs, images
from tests.support.fileserver import serving
from tests.support.loopback import LOOPBACK
from tests.support.memory import MiB, measured, task_processes
from tests.support.server import ServerProcess
from tilework.client import ApiError, Client

MAX_UPLOAD_BYTES = 5_000_000
# A task process's growth while one input runs. Measured here: under 9 MiB for every input,
# 32 MiB for the first one a task process runs (libvips' first use); decoding the large JPEG
# whole instead of shrinking it as it loads grows it by about 370 MiB.
TASK_PROCESS_GROWTH_BYTES = 64 * MiB

Maker = Callable[[Path], Path]
BATTERY: list[tuple[str, Maker, str]] = [
    ("pixel-flood.png", lambda p: images.huge_header_png(p, 100_000, 100_000), "image_too_large"),
    ("huge-dims.png", lambda p: images.huge_header_png(p, 2**31 - 1, 2**31 - 1), "image_too_large"),
    ("zero-width.png", bombs.zero_width_png, "corrupt_image"),
    ("ztxt-bomb.png", bombs.ztxt_bomb_png, "succeeded"),  # text dropped, bounded
    ("iccp-bomb.png", bombs.iccp_bomb_png, "succeeded"),
    (
        "cut.jpg",
        lambda p: images.truncated(images.photo(p.with_suffix(".o.jpg")), p),
        "corrupt_image",
    ),
    (
        "cut.png",
        lambda p: images.truncated(images.photo(p.with_suffix(".o.png")), p),
        "corrupt_image",
    ),
    ("5000-scans.jpg", bombs.many_scans_jpeg, "corrupt_image"),
    ("100k-frames.gif", bombs.many_frames_gif, "image_too_large"),
    ("5000-pages.tif", bombs.many_pages_tiff, "image_too_large"),
    ("entity.svg", bombs.svg_with_external_entity, "unsupported_format"),
    ("eps.png", bombs.eps_named_png, "unsupported_format"),
    ("pdf.png", bombs.pdf_named_png, "unsupported_format"),
    ("cmyk.jpg", images.cmyk_jpeg, "succeeded"),
    ("16-bit.png", images.sixteen_bit_png, "succeeded"),
    ("palette-trns.png", images.palette_png_with_transparency, "succeeded"),
    ("alpha.png", images.rgba_png, "succeeded"),
    ("64-mp.jpg", bombs.large_smooth_jpeg, "succeeded"),  # within limits, decoded shrinking
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("hostile")
    running = ServerProcess(
        folder / "home",
        workers=2,
        max_attempts=1,
        max_upload_bytes=MAX_UPLOAD_BYTES,
        fetch_allow_hosts=LOOPBACK,  # the HTML page posing as a PNG is served from loopback
    ).start()
    yield running
    assert running.stop() == 0, running.log()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[Client]:
    with server.client() as sdk:
        yield sdk


def outcome(client: Client, path: Path, **params: Any) -> tuple[str, dict[str, Any]]:
    """The code the first step to refuse ``path`` gave, or the finished job's status."""
    try:
        key = client.upload(path)["key"]
        job = client.submit("resize", key=key, params={"width": 30, **params})
    except ApiError as error:
        return error.code, {}
    done = client.wait(job["id"], timeout=60)
    return (done["error"] or {}).get("code") or done["status"], done


@pytest.mark.parametrize(("name", "make", "expected"), BATTERY, ids=[b[0] for b in BATTERY])
def test_each_hostile_input_ends_with_its_code_in_bounded_memory(
    client: Client, server: ServerProcess, tmp_path: Path, name: str, make: Maker, expected: str
) -> None:
    path = make(tmp_path / name)
    assert server.process is not None
    workers = task_processes(server.process.pid)
    with measured(workers) as growth:
        code, _ = outcome(client, path, format="png")
    assert code == expected
    assert not growth.gone and task_processes(server.process.pid) == workers, (
        "a task process was replaced"
    )
    assert growth.peak < TASK_PROCESS_GROWTH_BYTES, (
        f"a task process grew by {growth.peak // MiB} MiB on {name}"
    )
    assert server.http.get(f"{server.url}/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(
    client: Client, tmp_path: Path, orientation: int
) -> None:
    source = images.oriented_jpeg(tmp_path / "o.jpg", orientation, width=60, height=40)
    code, done = outcome(client, source, format="png")
    assert code == "succeeded"
    output = done["outputs"][0]
    assert (output["width"], output["height"]) == (30, 20)  # upright, whatever was stored
    fetched = httpx.get(output["url"], timeout=30)
    image = pyvips.Image.new_from_buffer(fetched.content, "")
    assert images.quadrant_colours(image) == {c: c for c in images.QUADRANTS}


def test_alpha_to_jpeg_and_html_posing_as_png(client: Client, tmp_path: Path) -> None:
    code, done = outcome(client, images.rgba_png(tmp_path / "a.png"), format="jpeg")
    assert code == "succeeded" and done["outputs"][0]["format"] == "jpeg"

    site = tmp_path / "site"
    site.mkdir()
    bombs.html_page(site / "photo.png")  # served as image/png, by its name
    with serving(site) as base:
        job = client.submit("resize", url=f"{base}/photo.png", params={"width": 30})
        done = client.wait(job["id"], timeout=60)
    assert done["error"]["code"] == "unsupported_format"


def test_bad_uploads_and_keys(client: Client, server: ServerProcess, tmp_path: Path) -> None:
    empty = server.http.post(f"{server.url}/v1/uploads", content=b"", timeout=10)
    assert (empty.status_code, empty.json()["error"]["code"]) == (422, "validation_failed")
    big = images.photo(tmp_path / "big.png", 2000, 2000)  # lossless noise: well past 5 MB
    assert big.stat().st_size > MAX_UPLOAD_BYTES
    with pytest.raises(ApiError) as too_large:
        client.upload(big)
    assert too_large.value.code == "payload_too_large"
    for key in ("../secret_key", "uploads/../../secret_key", "/etc/passwd", "uploads/%2e%2e/x"):
        with pytest.raises(ApiError) as refused:
            client.submit("resize", key=key, params={"width": 30})
        assert refused.value.code == "validation_failed", key
    assert server.http.get(f"{server.url}/v1/objects/../secret_key", timeout=10).status_code == 404
