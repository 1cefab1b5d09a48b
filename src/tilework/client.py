"""The Python SDK: a thin, typed wrapper over API v1 (the CLI is built on it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

JobBody = dict[str, Any]
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
UPLOAD_CHUNK_BYTES = 1 << 20


class ApiError(Exception):
    """An error answer from the server, with its stable code."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class Client:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def upload(self, path: Path) -> dict[str, Any]:
        """Upload a local image; returns ``{"key", "url", "bytes", "sha256"}``."""
        return self._call(
            "POST",
            "/v1/uploads",
            content=_chunks(path),
            headers={"Content-Length": str(path.stat().st_size)},
        )

    def submit(
        self,
        operation: str,
        *,
        key: str | None = None,
        url: str | None = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> JobBody:
        source = {"key": key} if key is not None else {"url": url}
        body: dict[str, Any] = {"operation": operation, "input": source, "params": params or {}}
        if idempotency_key:
            body["idempotency_key"] = idempotency_key
        return self._call("POST", "/v1/jobs", json=body)

    def job(self, job_id: str) -> JobBody:
        return self._call("GET", f"/v1/jobs/{job_id}")

    def jobs(
        self,
        *,
        status: str | None = None,
        operation: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        query = {"status": status, "operation": operation, "limit": limit, "cursor": cursor}
        return self._call(
            "GET", "/v1/jobs", params={k: v for k, v in query.items() if v is not None}
        )

    def cancel(self, job_id: str) -> JobBody:
        return self._call("POST", f"/v1/jobs/{job_id}/cancel")

    def wait(
        self,
        job_id: str,
        on_update: Callable[[JobBody], None] | None = None,
        poll_seconds: float = 0.25,
        timeout: float | None = None,
    ) -> JobBody:
        """Poll until the job ends; ``on_update`` sees every state on the way."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if on_update is not None:
                on_update(job)
            if job["status"] in TERMINAL:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout} s")
            time.sleep(poll_seconds)

    def download(self, url: str, target: Path) -> Path:
        """Stream a file URL (as found in ``outputs``) to ``target``."""
        with self._http.stream("GET", url) as response:
            if response.status_code >= 400:
                response.read()
                raise _api_error(response)
            with target.open("wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
        return target

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _api_error(response)
        body: dict[str, Any] = response.json()
        return body


def _api_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(
            response.status_code, error["code"], error["message"], error.get("details", {})
        )
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, "http_error", response.text[:200], {})


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(UPLOAD_CHUNK_BYTES):
            yield chunk
