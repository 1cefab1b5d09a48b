"""Stream a URL's body into a file: every hop checked, bytes and time capped.

- Redirects are followed by hand, at most ``MAX_REDIRECTS``, each new URL checked like the first
  (and its connection pinned by the transport).
- The raw body and the decoded body are counted separately against ``max_bytes``: a gzip bomb
  of a few KiB stops once its output passes the cap, and is inflated ``CHUNK_BYTES`` at a time.
- Connect, read (between two chunks) and total deadlines; a source that trickles a byte now and
  then (slow loris) is cut at the total one.

Failures are ``download_failed`` (retryable unless the answer says the request itself is at
fault) and ``ssrf_blocked``.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from tilework.core.errors import ErrorCode, TileworkError
from tilework.net.policy import FetchPolicy
from tilework.net.transport import pinned_client

MAX_REDIRECTS = 5
CHUNK_BYTES = 1 << 16
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 20.0
_TRANSIENT_STATUS = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    deadline_seconds: float


def download(url: str, target: Path, policy: FetchPolicy, limits: Limits) -> int:
    """Stream ``url`` into ``target``; returns the decoded byte count."""
    policy.check_url(url)
    deadline = time.monotonic() + limits.deadline_seconds
    per_read = min(READ_TIMEOUT_SECONDS, limits.deadline_seconds)
    timeout = httpx.Timeout(per_read, connect=min(CONNECT_TIMEOUT_SECONDS, per_read))
    headers = {"Accept-Encoding": "identity", "User-Agent": "tilework"}
    try:
        with pinned_client(policy, timeout=timeout, headers=headers) as client:
            response = _follow(client, url, policy)
            try:
                _check_status(url, response)
                with target.open("wb") as handle:
                    return _save_body(response, handle, limits.max_bytes, deadline)
            finally:
                response.close()
    except httpx.HTTPError as exc:
        raise TileworkError(ErrorCode.DOWNLOAD_FAILED, f"fetching {url} failed: {exc}") from exc


def _follow(client: httpx.Client, url: str, policy: FetchPolicy) -> httpx.Response:
    request = client.build_request("GET", url)
    for _ in range(MAX_REDIRECTS + 1):
        response = client.send(request, stream=True)
        following = response.next_request
        if following is None:
            return response
        response.close()
        policy.check_url(str(following.url))
        request = following
    raise TileworkError(
        ErrorCode.DOWNLOAD_FAILED,
        f"fetching {url} took more than {MAX_REDIRECTS} redirects",
        {"max_redirects": MAX_REDIRECTS},
        retryable=False,
    )


def _check_status(url: str, response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    retryable = response.status_code >= 500 or response.status_code in _TRANSIENT_STATUS
    raise TileworkError(
        ErrorCode.DOWNLOAD_FAILED,
        f"fetching {url} answered HTTP {response.status_code}",
        {"status": response.status_code},
        retryable=retryable,
    )


def _save_body(response: httpx.Response, handle: BinaryIO, max_bytes: int, deadline: float) -> int:
    decoder = _decoder(response.headers.get("content-encoding", ""))
    raw = decoded = 0
    # No chunk size: httpx would hold bytes back until it had that many, hiding a trickle.
    for chunk in response.iter_raw():
        raw += len(chunk)
        _within(raw, max_bytes, deadline)
        if decoder is None:
            handle.write(chunk)
            decoded = raw
            continue
        for data in _inflated(decoder, chunk):
            decoded += len(data)
            _within(decoded, max_bytes, deadline)
            handle.write(data)
    if decoder is not None:
        rest = decoder.flush()  # at most zlib's window: the input is all consumed
        decoded += len(rest)
        _within(decoded, max_bytes, deadline)
        handle.write(rest)
        if not decoder.eof:
            raise TileworkError(ErrorCode.DOWNLOAD_FAILED, "the compressed body ends early")
    return decoded


def _inflated(decoder: zlib._Decompress, chunk: bytes) -> Iterator[bytes]:
    """``chunk`` inflated at most ``CHUNK_BYTES`` at a time."""
    try:
        yield decoder.decompress(chunk, CHUNK_BYTES)
        while decoder.unconsumed_tail:
            yield decoder.decompress(decoder.unconsumed_tail, CHUNK_BYTES)
    except zlib.error as exc:
        raise TileworkError(ErrorCode.DOWNLOAD_FAILED, "the compressed body is damaged") from exc


def _within(size: int, max_bytes: int, deadline: float) -> None:
    if size > max_bytes:
        raise TileworkError(
            ErrorCode.DOWNLOAD_FAILED,
            f"the input is larger than {max_bytes} bytes",
            {"max_bytes": max_bytes},
            retryable=False,
        )
    if time.monotonic() > deadline:
        raise TileworkError(ErrorCode.DOWNLOAD_FAILED, "the input download took too long")


def _decoder(encoding: str) -> zlib._Decompress | None:
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if name == "deflate":
        return zlib.decompressobj()
    raise TileworkError(
        ErrorCode.DOWNLOAD_FAILED,
        f"the input came with the content encoding {encoding!r}, which tilework does not read",
        retryable=False,
    )
