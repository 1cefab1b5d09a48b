"""The built-in operations through the app: palette's outputs and their tones, and what palette
and upscale refuse at submit, naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyvips
from structlog.testing import capture_logs

from tests.support import images
from tests.support.api import InProcessApi, MakeApi
from tests.support.fileserver import serving
from tests.support.loopback import LOOPBACK
from tilework.client import Client

PALETTES = [
    ["#1d3557", "#457b9d", "#a8dadc", "#f1faee"],
    ["#ff0000", "#800000"],
    ["#2a9d8f"],
]


def pixels(path: Path) -> np.ndarray:
    return np.asarray(pyvips.Image.new_from_file(str(path)).numpy())


def test_each_palette_gives_its_output_in_order_and_keeps_the_tones(
    api: InProcessApi, client: Client, photo: Path, tmp_path: Path
) -> None:
    key = client.upload(photo)["key"]
    job = client.submit("palette", key=key, params={"palettes": PALETTES, "format": "png"})
    with capture_logs() as logged:
        api.work()
    done = client.job(job["id"])
    assert done["status"] == "succeeded", done
    assert done["progress"]["stages"] == ["analyse", "palettes ×3"]
    outputs = done["outputs"]
    assert [output["name"] for output in outputs] == ["palette-0", "palette-1", "palette-2"]

    luminance = np.asarray(
        pyvips.Image.new_from_file(str(photo)).colourspace("b-w")[0].numpy()
    ).ravel()
    for index, (output, palette) in enumerate(zip(outputs, PALETTES, strict=True)):
        assert (output["width"], output["height"], output["format"]) == (640, 480, "png")
        image = pixels(client.download(output["url"], tmp_path / f"{index}.png")).reshape(-1, 3)
        # A lookup by luminance: pixels of equal input luminance have one output colour ...
        levels = np.unique(luminance)
        colour_of = {}
        for level in levels:
            found = np.unique(image[luminance == level], axis=0)
            assert len(found) == 1, (index, level, found)
            colour_of[int(level)] = found[0]
        # ... whose lightness never falls as the input's rises: the tones keep their order.
        ramp = np.array([colour_of[int(level)] for level in levels], dtype=np.uint8)
        lightness = np.asarray(
            pyvips.Image.new_from_array(ramp.reshape(1, -1, 3), interpretation="srgb")
            .colourspace("lab")[0]
            .numpy()
        ).ravel()
        assert np.all(np.diff(lightness) >= -1.0), (index, lightness)
        # Every palette colour is in the output (at its tone's centre), within rounding.
        for colour in palette:
            wanted = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
            nearest = np.abs(ramp.astype(int) - wanted).sum(axis=1).min()
            assert nearest <= 12, (index, colour, nearest)

    timings = done["timings"]
    for step in ("analyse_tones", "process_palette", "encode_palette", "upload_palette"):
        assert timings[step] > 0, timings
    steps = [entry.get("step") for entry in logged]
    assert steps.count("upload_palette") == 3
    assert "process_palette" in steps and "encode_palette" in steps


def test_a_url_input_is_fetched_once_and_webp_is_the_default(
    make_api: MakeApi, photo: Path, tmp_path: Path
) -> None:
    api = make_api(fetch_allow_hosts=LOOPBACK)  # the source is served from loopback
    fetched: list[str] = []
    with serving(photo.parent, on_get=fetched.append) as base, api.client() as client:
        job = client.submit("palette", url=f"{base}/{photo.name}", params={"palettes": PALETTES})
        api.work()
        done = client.job(job["id"])
        assert done["status"] == "succeeded", done
        assert fetched == [f"/{photo.name}"]  # by the analyse task; the palettes read the copy
        for index, output in enumerate(done["outputs"]):
            assert output["format"] == "webp"
            image = pyvips.Image.new_from_file(
                str(client.download(output["url"], tmp_path / f"{index}.webp"))
            )
            assert (image.width, image.height) == (640, 480)


def test_bad_palettes_are_refused_naming_the_field(
    http: httpx.Client, client: Client, photo: Path
) -> None:
    key = client.upload(photo)["key"]
    cases = {
        "params.palettes[0][1]": {"palettes": [["#fff", "#12345g"]]},
        "params.palettes": {"palettes": []},
        "params.palettes[0]": {"palettes": [[]]},
        "params.format": {"palettes": [["#000"]], "format": "jpeg"},
        "params.quality": {"palettes": [["#000"]], "quality": 0},
    }
    for field, params in cases.items():
        answer = http.post(
            "/v1/jobs", json={"operation": "palette", "input": {"key": key}, "params": params}
        )
        assert answer.status_code == 422, (field, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "validation_failed"
        assert field in [item["field"] for item in error["details"]["errors"]], (field, error)
    assert client.jobs()["items"] == []


def upscale_refusal(http: httpx.Client, key: str, **params: object) -> dict[str, Any]:
    body = {"operation": "upscale", "input": {"key": key}, "params": params}
    response = http.post("/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "validation_failed"
    return error


def field_of(error: dict[str, Any]) -> str:
    return str(error["details"]["errors"][0]["field"])


def test_upscale_outputs_no_encoder_can_write_are_refused_at_submit(
    http: httpx.Client, client: Client, tmp_path: Path
) -> None:
    key = client.upload(images.photo(tmp_path / "wide.png", 600, 400))["key"]
    webp = upscale_refusal(http, key, scale=32, model="lanczos", format="webp")  # 19200 px wide
    assert field_of(webp) == "params.format"
    assert "use png or tiff" in str(webp["message"])
    assert field_of(upscale_refusal(http, key, scale=33)) == "params.scale"
    assert field_of(upscale_refusal(http, key, model="esrgan-9000")) == "params.model"
    accepted = client.submit("upscale", key=key, params={"scale": 32, "model": "lanczos"})
    assert accepted["status"] == "queued"  # png has no such limit
