"""``predict`` refused at submit when it cannot run: an unknown provider, a model name of the
wrong kind, an image with nowhere to go (or a field with no image); and what an input-less
job looks like. No provider is reached: these are the API's own answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import MakeApi

PROVIDERS = {
    "rep": {"base_url": "http://127.0.0.1:9"},
    "fal": {"kind": "fal", "base_url": "http://127.0.0.1:9/fal"},
}


@pytest.fixture
def http(make_api: MakeApi) -> httpx.Client:
    return make_api(providers=PROVIDERS).http


def refused(http: httpx.Client, body: dict[str, Any]) -> list[dict[str, str]]:
    answer = http.post("/v1/jobs", json={"operation": "predict", **body})
    assert answer.status_code == 422, answer.text
    errors: list[dict[str, str]] = answer.json()["error"]["details"]["errors"]
    return errors


def test_what_cannot_run_is_refused_naming_the_field(http: httpx.Client) -> None:
    (error,) = refused(http, {"params": {"provider": "gpu", "model": "a/b"}})
    assert error["field"] == "params.provider" and "fal, rep" in error["message"]
    (error,) = refused(http, {"params": {"provider": "rep", "model": "fal-ai/flux/dev"}})
    assert error["field"] == "params.model" and "owner/name[:version]" in error["message"]
    (error,) = refused(http, {"params": {"provider": "fal", "model": "a/b:v1"}})
    assert error["field"] == "params.model" and "owner/app[/path]" in error["message"]
    (error,) = refused(
        http, {"params": {"provider": "fal", "model": "a/b", "image_field": "image_url"}}
    )
    assert error["field"] == "input"
    (error,) = refused(
        http,
        {
            "input": {"url": "https://example.com/a.png"},
            "params": {"provider": "fal", "model": "a/b"},
        },
    )
    assert error["field"] == "params.image_field"
    (error,) = refused(http, {"params": {"provider": "fal", "model": "a/b", "timeout_seconds": 0}})
    assert error["field"] == "params.timeout_seconds"


def test_an_operation_that_needs_an_image_still_needs_one(http: httpx.Client) -> None:
    answer = http.post("/v1/jobs", json={"operation": "resize", "params": {"width": 3}})
    assert answer.status_code == 422
    (error,) = answer.json()["error"]["details"]["errors"]
    assert error == {"field": "input", "message": "resize needs an input image"}


def test_a_predict_job_may_come_without_an_input(http: httpx.Client) -> None:
    created = http.post(
        "/v1/jobs",
        json={"operation": "predict", "params": {"provider": "fal", "model": "fal-ai/flux/dev"}},
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["input"] == {} and job["status"] == "queued"
    assert job["result"] is None and job["remote"] is None
    assert job["params"]["timeout_seconds"] == 600
