"""A real S3 HTTP server for tests: moto's ThreadedMotoServer on 127.0.0.1, a bucket per test.

moto checks no signatures; what it checks is the protocol (multipart, ranges, presigned URLs),
and its request recorder shows the exact headers tilework sent.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# moto loads its S3 backend on the first request: seconds on a loaded machine.
TIMEOUT_SECONDS = 60.0
REGION = "us-east-1"
ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def new_bucket(self) -> str:
        bucket = f"tw-{uuid.uuid4().hex[:12]}"
        httpx.put(f"{self.endpoint}/{bucket}", timeout=TIMEOUT_SECONDS).raise_for_status()
        return bucket

    def settings(self, bucket: str, prefix: str = "") -> dict[str, Any]:
        """Settings (as keyword arguments or, upper-cased, TILEWORK_* variables) for the bucket."""
        return {
            "storage_url": f"s3://{bucket}/{prefix}".rstrip("/"),
            "s3_endpoint": self.endpoint,
            "s3_region": REGION,
            "s3_access_key_id": ACCESS_KEY,
            "s3_secret_access_key": SECRET_KEY,
        }

    def start_recording(self) -> None:
        for step in ("reset-recording", "start-recording"):
            url = f"{self.endpoint}/moto-api/recorder/{step}"
            httpx.post(url, timeout=TIMEOUT_SECONDS).raise_for_status()

    def recorded(self) -> list[dict[str, Any]]:
        """The requests since ``start_recording``: method, url and headers of each."""
        recorder = f"{self.endpoint}/moto-api/recorder"
        httpx.post(f"{recorder}/stop-recording", timeout=TIMEOUT_SECONDS).raise_for_status()
        text = httpx.get(f"{recorder}/download-recording", timeout=TIMEOUT_SECONDS).text
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_s3_server(folder: Path) -> Iterator[S3Server]:
    # moto reads where its recorder writes once, when it is imported: before that, and not
    # into the working directory.
    os.environ["MOTO_RECORDER_FILEPATH"] = str(folder / "moto_recording")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()
