"""What only uvicorn in front of the app shows: body caps judged on a declared Content-Length
and counted on chunked bodies (JSON and uploads) as they arrive, a prediction's larger inline
cap, and CORS."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support import images
from tests.support.server import ServerProcess


def test_bodies_past_the_cap_are_413_and_cors_is_as_configured(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "home",
        workers=0,
        max_request_bytes=4096,
        max_upload_bytes=1_000_000,
        cors_origins=["https://app.example"],
    ).start()
    try:
        big = {"operation": "noop", "input": {"key": "uploads/x"}, "params": {"pad": "x" * 5000}}
        answer = server.http.post("/v1/jobs", json=big)
        assert (answer.status_code, answer.json()["error"]["code"]) == (413, "payload_too_large")

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield json.dumps(big).encode()

        answer = server.http.post(
            "/v1/jobs", content=chunked(), headers={"content-type": "application/json"}
        )
        assert (answer.status_code, answer.json()["error"]["code"]) == (413, "payload_too_large")
        small = server.http.post("/v1/jobs", content=iter([b'{"operation": ', b'"noop"}']))
        assert small.json()["error"]["code"] == "validation_failed"  # read, then judged

        def upload() -> Iterator[bytes]:  # an upload without Content-Length, past its cap
            yield b"\x89PNG\r\n\x1a\n"
            for _ in range(3):
                yield bytes(500_000)

        answer = server.http.post("/v1/uploads", content=upload())
        assert (answer.status_code, answer.json()["error"]["code"]) == (413, "payload_too_large")
        # A prediction's image may come inline, so its cap is the upload cap, in base64.
        photo = images.photo(tmp_path / "inline.png", 64, 64).read_bytes()
        assert len(photo) > 4096
        inline = "data:image/png;base64," + base64.b64encode(photo).decode()
        body = {"input": {"image": inline, "width": 8}}
        created = server.http.post("/v1/models/tilework/resize/predictions", json=body)
        assert created.status_code == 201, created.text
        preflight = {
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        allowed = httpx.options(f"{server.url}/v1/jobs", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        stranger = httpx.options(
            f"{server.url}/v1/jobs", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in stranger.headers
    finally:
        assert server.stop() == 0, server.log()
