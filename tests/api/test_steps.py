"""A job of steps through ``/v1/jobs``: several operations as one job, one id, each step's
output the next step's input; checked at submit step by step, priced and charged as the sum of
its steps, failing with the step that failed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import pytest
import pyvips

from tests.support import images
from tests.support.api import InProcessApi
from tilework.core.credits import megapixel_cost

UPSCALE_THEN_THUMBNAIL = [
    {"operation": "upscale", "params": {"scale": 4}},
    {"operation": "resize", "params": {"width": 100, "format": "webp"}},
]


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return images.photo(tmp_path / "photo.jpg", 40, 30)


def submit(api: InProcessApi, photo: Path, steps: list[Any], **extra: Any) -> dict[str, Any]:
    with api.client() as client:
        source = {"key": client.upload(photo)["key"]}
    created = api.http.post("/v1/jobs", json={"input": source, "steps": steps, **extra})
    assert created.status_code == 201, created.text
    job: dict[str, Any] = created.json()
    return job


def read_image(url: str) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(httpx.get(url).content, "")


def test_an_upscale_then_a_thumbnail_is_one_job(api: InProcessApi, photo: Path) -> None:
    job = submit(api, photo, UPSCALE_THEN_THUMBNAIL)
    assert job["operation"] == "steps"
    assert job["progress"]["stages"] == [
        "1.upscale: prepare",
        "1.upscale: tiles: animevideov3 ×4",
        "1.upscale: stitch",
        "2.resize",
    ]
    api.work()
    done = api.http.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded", done["error"]
    (thumbnail,) = done["outputs"]  # the last step's only
    assert (thumbnail["format"], thumbnail["width"], thumbnail["height"]) == ("webp", 100, 75)
    assert thumbnail["key"].startswith(f"jobs/{job['id']}/steps/1/")
    image = api.http.get(thumbnail["url"])
    assert image.status_code == 200 and image.content[8:12] == b"WEBP"
    # Timings per step, named by the step's number.
    assert any(name.startswith("1.") for name in done["timings"])
    assert any(name.startswith("2.") for name in done["timings"])
    assert done["progress"]["percent"] == 100.0


def test_earlier_outputs_are_kept_on_request_and_a_step_takes_a_named_one(
    api: InProcessApi, photo: Path
) -> None:
    steps = [
        {"operation": "palette", "params": {"palettes": [["#d33"], ["#36c"]], "format": "png"}},
        {"operation": "resize", "from": "palette-1", "params": {"width": 20, "format": "png"}},
    ]
    job = submit(api, photo, steps, keep_intermediate=True)
    api.work()
    done = api.http.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded", done["error"]
    assert [out["name"] for out in done["outputs"]] == ["palette-0", "palette-1", "output"]
    second, resized = done["outputs"][1], done["outputs"][2]
    assert resized["width"] == 20
    # The resize was made from the blue variation, not the first (red) one.
    with api.client() as client:
        made = client.download(resized["url"], Path(api.settings.home) / "made.png")
    pixel = pyvips.Image.new_from_file(str(made))(10, 7)
    assert pixel[2] > pixel[0], (pixel, second["name"])


def test_each_steps_params_are_checked_at_submit_naming_where_they_sit(
    api: InProcessApi, photo: Path
) -> None:
    def refused(body: dict[str, Any]) -> list[dict[str, str]]:
        answer = api.http.post(
            "/v1/jobs", json={"input": {"url": "https://a.example/x.png"}, **body}
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "validation_failed"
        errors: list[dict[str, str]] = answer.json()["error"]["details"]["errors"]
        return errors

    bad_scale = [UPSCALE_THEN_THUMBNAIL[0], {"operation": "upscale", "params": {"scale": 1}}]
    assert [e["field"] for e in refused({"steps": bad_scale})] == ["steps[1].params.scale"]
    unknown = [{"operation": "upscal"}]
    (error,) = refused({"steps": unknown})
    assert error["field"] == "steps[0].operation" and "'upscale'" in error["message"]
    nested = [{"operation": "steps", "params": {"steps": UPSCALE_THEN_THUMBNAIL}}]
    assert [e["field"] for e in refused({"steps": nested})] == ["steps[0].operation"]
    assert [e["field"] for e in refused({"steps": [{"params": {}}]})] == ["steps[0].operation"]
    # One operation or steps, not both, not neither.
    both = {"operation": "resize", "steps": UPSCALE_THEN_THUMBNAIL}
    assert "either operation" in refused(both)[0]["message"]
    assert "either operation" in refused({})[0]["message"]
    assert refused({"steps": []})[0]["field"] == "steps"
    # A step's admission: the provider a later step names is not configured.
    remote = [UPSCALE_THEN_THUMBNAIL[1], {"operation": "upscale", "params": {"provider": "gpu"}}]
    assert [e["field"] for e in refused({"steps": remote})] == ["steps[1].params.provider"]


def test_a_step_that_cannot_take_what_it_receives_fails_the_job_naming_it(
    api: InProcessApi, photo: Path
) -> None:
    """A size no step could know at submit: ×8 of the photo is past WebP's 16383 px only
    once a first ×8 has made it 2560 px wide."""
    big = images.photo(photo.parent / "wide.jpg", 320, 10)
    steps = [
        {"operation": "upscale", "params": {"scale": 8, "model": "lanczos"}},
        {"operation": "upscale", "params": {"scale": 8, "model": "lanczos", "format": "webp"}},
    ]
    job = submit(api, big, steps)
    api.work()
    done = api.http.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "failed"
    assert done["error"]["code"] == "validation_failed", done["error"]
    assert done["error"]["message"].startswith("step 2 (upscale): ")


def test_credits_are_reserved_and_charged_as_the_sum_of_the_steps(
    api: InProcessApi, photo: Path
) -> None:
    """A thumbnail, then a ×2: the resize reserves its own output's megapixels (at least one
    credit); the upscale after it is priced for the largest input allowed, its input not
    being made yet. The charge is what each step made: one credit each (less than a
    megapixel)."""
    settings = api.settings
    side = math.isqrt(settings.max_input_pixels)
    worst = megapixel_cost(min(side * side * 4, settings.max_output_pixels))
    steps = [
        {"operation": "resize", "params": {"width": 20, "format": "png"}},
        {"operation": "upscale", "params": {"scale": 2, "model": "lanczos"}},
    ]
    with api.tenant(credits=1000) as client:
        source = {"key": client.upload(photo)["key"]}
        client._call("POST", "/v1/jobs", json={"input": source, "steps": steps})
        assert client.current_key()["credits"] == 1000 - (1.0 + worst)
        api.work()
        assert client.current_key()["credits"] == 1000 - 2.0
        items = client.ledger()["items"]
    movements = [(e["kind"], e["amount"]) for e in items]
    held = 1.0 + worst
    assert movements == [("charge", -2.0), ("release", held), ("reserve", -held), ("grant", 1000)]
    assert [(step["operation"], step["cost"]) for step in items[0]["detail"]["steps"]] == [
        ("resize", 1.0),
        ("upscale", 1.0),
    ]
