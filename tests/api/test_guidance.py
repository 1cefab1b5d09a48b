"""Errors a newcomer meets in the first hour say what to do: the setting that allows a private
host, the operations there are and the closest to a typo, where a body stops being JSON, and
where a form upload should go."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.api import MakeApi


def test_a_blocked_url_names_the_setting_that_allows_its_host(http: httpx.Client) -> None:
    refused = http.post(
        "/v1/jobs",
        json={
            "operation": "resize",
            "input": {"url": "http://127.0.0.1:9/photo.jpg"},
            "params": {"width": 8},
        },
    )
    error = refused.json()["error"]
    assert refused.status_code == 400 and error["code"] == "ssrf_blocked"
    assert "TILEWORK_FETCH_ALLOW_HOSTS" in error["message"]
    assert error["details"]["setting"] == "TILEWORK_FETCH_ALLOW_HOSTS"


def test_the_setting_named_lets_the_host_through(make_api: MakeApi) -> None:
    """The advice works: with the host in the setting the same URL is fetched."""
    api = make_api(fetch_allow_hosts=["127.0.0.1"])
    submitted = api.http.post(
        "/v1/jobs",
        json={
            "operation": "resize",
            "input": {"url": "http://127.0.0.1:9/photo.jpg"},
            "params": {"width": 8},
        },
    )
    assert submitted.status_code == 201, submitted.text  # refused later only if nothing answers


def test_an_unknown_operation_lists_the_registered_ones_and_the_closest(
    http: httpx.Client,
) -> None:
    refused = http.post("/v1/jobs", json={"operation": "resise", "input": {"key": "uploads/x"}})
    error = refused.json()["error"]
    assert refused.status_code == 422 and error["code"] == "validation_failed"
    assert "did you mean 'resize'?" in error["message"]
    assert error["details"]["closest"] == "resize"
    assert {"resize", "upscale", "palette"} <= set(error["details"]["operations"])
    assert all(name in error["message"] for name in error["details"]["operations"])
    far = http.post("/v1/jobs", json={"operation": "zzzz", "input": {"key": "uploads/x"}})
    assert far.json()["error"]["details"]["closest"] is None
    assert "did you mean" not in far.json()["error"]["message"]


def test_malformed_json_says_invalid_json_and_where(http: httpx.Client) -> None:
    body = b'{\n  "operation": "resize",\n  "input": {"key": "uploads/x"},,\n}'
    refused = http.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
    error = refused.json()["error"]
    assert refused.status_code == 422 and error["code"] == "validation_failed"
    assert error["message"].startswith("invalid JSON at line 3, column 33")  # the second comma
    assert (error["details"]["line"], error["details"]["column"]) == (3, 33)
    assert error["details"]["errors"] == [{"field": "body", "message": error["message"]}]


def test_malformed_json_on_replicates_and_fals_routes_says_where_too(
    http: httpx.Client,
) -> None:
    broken = b'{"input": {"width": 3\n  "image": 1}}'
    headers = {"content-type": "application/json"}
    replicate = http.post("/v1/predictions", content=broken, headers=headers)
    assert "invalid JSON at line 2, column 3" in replicate.json()["detail"]
    fal = http.post("/fal/tilework/resize", content=broken, headers=headers)
    assert "invalid JSON at line 2, column 3" in fal.json()["message"]


def test_a_form_upload_is_told_to_send_raw_bytes(http: httpx.Client, photo: Path) -> None:
    refused = http.post(
        "/v1/uploads", files={"file": ("photo.jpg", photo.read_bytes(), "image/jpeg")}
    )
    error = refused.json()["error"]
    assert refused.status_code == 415 and error["code"] == "unsupported_format"
    assert "raw bytes" in error["message"] and "/v1/files" in error["message"]
    assert error["details"]["content_type"] == "multipart/form-data"
    raw = http.post("/v1/uploads", content=photo.read_bytes())
    assert raw.status_code == 201
