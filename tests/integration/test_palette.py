"""``palette`` through the real server: one recoloured output per palette, in order (seed 003)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyvips

from tests.fileserver import serving
from tests.server import ServerProcess
from tilework.client import Client

PALETTES = [
    ["#1d3557", "#457b9d", "#a8dadc", "#f1faee"],
    ["#ff0000", "#800000"],
    ["#2a9d8f"],
]


def pixels(path: Path) -> np.ndarray:
    return np.asarray(pyvips.Image.new_from_file(str(path)).numpy())


def test_each_palette_gives_its_output_in_order_and_keeps_the_tones(
    server: ServerProcess, client: Client, photo: Path, tmp_path: Path
) -> None:
    key = client.upload(photo)["key"]
    job = client.submit("palette", key=key, params={"palettes": PALETTES, "format": "png"})
    done = client.wait(job["id"], timeout=120)
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
    log = server.log()
    assert log.count("step='upload_palette'") == 3
    assert "step='process_palette'" in log and "step='encode_palette'" in log


def test_a_url_input_is_fetched_once_and_webp_is_the_default(
    client: Client, photo: Path, tmp_path: Path
) -> None:
    fetched: list[str] = []
    with serving(photo.parent, on_get=fetched.append) as base:
        job = client.submit("palette", url=f"{base}/{photo.name}", params={"palettes": PALETTES})
        done = client.wait(job["id"], timeout=120)
    assert done["status"] == "succeeded", done
    assert fetched == [f"/{photo.name}"]  # by the analyse task; the palettes read the copy
    for index, output in enumerate(done["outputs"]):
        assert output["format"] == "webp"
        image = pyvips.Image.new_from_file(
            str(client.download(output["url"], tmp_path / f"{index}.webp"))
        )
        assert (image.width, image.height) == (640, 480)


def test_bad_palettes_are_refused_naming_the_field(
    server: ServerProcess, client: Client, photo: Path
) -> None:
    key = client.upload(photo)["key"]
    cases = {
        "params.palettes.0.1": {"palettes": [["#fff", "#12345g"]]},
        "params.palettes": {"palettes": []},
        "params.palettes.0": {"palettes": [[]]},
        "params.format": {"palettes": [["#000"]], "format": "jpeg"},
        "params.quality": {"palettes": [["#000"]], "quality": 0},
    }
    for field, params in cases.items():
        answer = server.http.post(
            f"{server.url}/v1/jobs",
            json={"operation": "palette", "input": {"key": key}, "params": params},
        )
        assert answer.status_code == 422, (field, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "validation_failed"
        assert field in [item["field"] for item in error["details"]["errors"]], (field, error)
    assert client.jobs()["items"] == []
