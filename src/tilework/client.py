"""The Python SDK: a thin, typed wrapper over API v1 (the CLI is built on it)."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

JobBody = dict[str, Any]
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
UPLOAD_CHUNK_BYTES = 1 << 20
# A job's event stream sends a comment at least every 15 s: silence for longer is a dead line.
STREAM_READ_SECONDS = 40.0
RECONNECT_SECONDS = 1.0
MAX_RECONNECTS = 5  # in a row, without an event between: then the server is really gone


@dataclass(frozen=True)
class ServerEvent:
    """One server-sent event: its type, its ``data`` and, if it has one, its id."""

    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


class ApiError(Exception):
    """An error answer from the server, with its stable code."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        """``transport`` replaces the network for both the API and file URLs: an application
        served in this process, a proxy, a mount. ``verify``: how an HTTPS server's certificate
        is checked (a context trusting a private CA; by default certifi's CAs, or those of the
        ``SSL_CERT_FILE`` the environment names)."""
        headers = {} if api_key is None else {"Authorization": f"Bearer {api_key}"}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers=headers,
            transport=transport,
            verify=verify,
        )
        # File URLs are signed on their own, and may be another host's (a bucket's): the API
        # key never goes there.
        self._files = httpx.Client(timeout=timeout, transport=transport, verify=verify)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        self._files.close()

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
        webhook: dict[str, Any] | None = None,
        destination: str | dict[str, Any] | None = None,
        cache: bool | None = None,
        priority: int | None = None,
        run_at: str | None = None,
        deadline: str | None = None,
    ) -> JobBody:
        """Submit a job; ``webhook`` is ``{"url", "events"?, "format"?}`` and ``destination``
        a name or ``{"name", "vars"?}``, as ``POST /v1/jobs`` takes them; ``cache`` False runs
        it even when an equal job's outputs are retained; ``run_at`` and ``deadline`` are ISO
        8601 times with their offsets. Neither ``key`` nor ``url``: a job without an input
        (``predict``)."""
        body: dict[str, Any] = {"operation": operation, "params": params or {}}
        if key is not None:
            body["input"] = {"key": key}
        elif url is not None:
            body["input"] = {"url": url}
        if webhook is not None:
            body["webhook"] = webhook
        if destination is not None:
            body["destination"] = destination
        if idempotency_key:
            body["idempotency_key"] = idempotency_key
        if cache is not None:
            body["cache"] = cache
        scheduling = {"priority": priority, "run_at": run_at, "deadline": deadline}
        body.update({name: value for name, value in scheduling.items() if value is not None})
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

    def retry(self, job_id: str) -> JobBody:
        """A failed or canceled job retried as a new job (``retry_of``), from where it
        stopped; the same retry if it was retried already."""
        return self._call("POST", f"/v1/jobs/{job_id}/retry")

    def events(
        self, job_id: str, last_event_id: str | None = None, read_timeout: float | None = None
    ) -> Iterator[ServerEvent]:
        """The job's event stream (``GET /v1/jobs/{id}/events``), from after ``last_event_id``
        (from the start if None), until the job's last event."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        timeout = httpx.Timeout(
            self._http.timeout.connect, read=read_timeout or STREAM_READ_SECONDS
        )
        path = f"/v1/jobs/{job_id}/events"
        with self._http.stream("GET", path, headers=headers, timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                raise _api_error(response)
            yield from parse_events(response.iter_lines())

    def wait(
        self,
        job_id: str,
        on_update: Callable[[JobBody], None] | None = None,
        timeout: float | None = None,
    ) -> JobBody:
        """Follow the job's event stream until it ends; ``on_update`` sees every state on the
        way. A dropped stream is resumed after its last event, so no state is missed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last_id: str | None = None
        failures = 0
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"job {job_id} did not end within {timeout} s")
            read = STREAM_READ_SECONDS if left is None else min(left, STREAM_READ_SECONDS)
            try:
                for message in self.events(job_id, last_id, read_timeout=read):
                    failures = 0
                    last_id = message.id or last_id
                    job: JobBody = message.json()["data"]
                    if on_update is not None:
                        on_update(job)
                    if job["status"] in TERMINAL:
                        return job
            except httpx.TransportError:
                failures += 1
                if failures > MAX_RECONNECTS:
                    raise
            else:  # the stream closed before the job's end (a server restart): resume it
                failures += 1
                if failures > MAX_RECONNECTS:
                    return self.job(job_id)
            time.sleep(RECONNECT_SECONDS)

    def download(self, url: str, target: Path) -> Path:
        """Stream a file URL (as found in ``outputs``) to ``target``."""
        with self._files.stream("GET", url) as response:
            if response.status_code >= 400:
                response.read()
                raise _api_error(response)
            with target.open("wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
        return target

    def create_key(self, tenant: str, name: str, **limits: Any) -> dict[str, Any]:
        """A new API key (admin keys only); its ``key`` is shown this once."""
        body = {"tenant": tenant, "name": name, **limits}
        return self._call("POST", "/v1/keys", json=body)

    def keys(self) -> dict[str, Any]:
        return self._call("GET", "/v1/keys")

    def current_key(self) -> dict[str, Any]:
        return self._call("GET", "/v1/keys/current")

    def ledger(self) -> dict[str, Any]:
        """The calling key's credit movements, newest first."""
        return self._call("GET", "/v1/keys/current/ledger")

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/keys/{key_id}/revoke")

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


def parse_events(lines: Iterable[str]) -> Iterator[ServerEvent]:
    """Server-sent events from a stream's lines (comments and ``retry`` are skipped)."""
    event, event_id = "message", None
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield ServerEvent(event, "\n".join(data), event_id)
            event, event_id, data = "message", None, []
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(UPLOAD_CHUNK_BYTES):
            yield chunk
