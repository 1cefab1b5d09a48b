"""What a provider's refusal means, decided once for both kinds (``remote/http.py``): against a
real HTTP server on 127.0.0.1 that answers each path with the status the path names."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.settings import Provider, Settings
from tilework.remote.http import ProviderHttp


class Refusing(http.server.BaseHTTPRequestHandler):
    """``/<status>`` answers that status, with fal's or Replicate's error body."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.do_GET()

    def do_GET(self) -> None:
        status = int(self.path.strip("/").split("?")[0])
        body = json.dumps({"detail": f"said {status}"}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        if status == 429:
            self.send_header("retry-after", "7")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def provider_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderHttp]:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        settings = Settings(home=tmp_path_factory.mktemp("home"))
        http_ = ProviderHttp("gpu", Provider(base_url=url, token="t"), settings, "Key")
        yield http_
        http_.close()
        server.shutdown()


def refusal(provider_http: ProviderHttp, status: int, submitting: bool) -> TileworkError:
    with pytest.raises(TileworkError) as raised:
        provider_http.call("POST" if submitting else "GET", f"/{status}", submitting=submitting)
    return raised.value


@pytest.mark.parametrize(
    ("status", "submitting", "code", "retryable"),
    [
        (422, True, ErrorCode.VALIDATION_FAILED, False),
        (400, True, ErrorCode.VALIDATION_FAILED, False),
        (422, False, ErrorCode.PROVIDER_FAILED, False),  # reading: not the caller's input
        (401, True, ErrorCode.PROVIDER_MISCONFIGURED, False),
        (402, False, ErrorCode.PROVIDER_MISCONFIGURED, False),
        (403, True, ErrorCode.PROVIDER_MISCONFIGURED, False),
        (404, True, ErrorCode.PROVIDER_MISCONFIGURED, False),
        (429, True, ErrorCode.PROVIDER_FAILED, True),
        (500, True, ErrorCode.PROVIDER_FAILED, True),
        (503, False, ErrorCode.PROVIDER_FAILED, True),
        (410, False, ErrorCode.PROVIDER_FAILED, False),
    ],
)
def test_each_refusal_is_the_failure_it_stands_for(
    provider_http: ProviderHttp, status: int, submitting: bool, code: ErrorCode, retryable: bool
) -> None:
    error = refusal(provider_http, status, submitting)
    assert (error.code, error.retryable) == (code, retryable)
    assert f"said {status}" in error.message  # the provider's own words
    assert error.details["provider"] == "gpu" and error.details["status"] == status


def test_a_429_carries_its_retry_after(provider_http: ProviderHttp) -> None:
    assert refusal(provider_http, 429, True).details["retry_after_seconds"] == 7


def test_no_answer_is_retried(tmp_path_factory: pytest.TempPathFactory) -> None:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing) as server:
        port = server.server_address[1]  # bound, then closed without serving: nothing answers
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    gone = ProviderHttp("gpu", Provider(base_url=f"http://127.0.0.1:{port}"), settings, "Key")
    with pytest.raises(TileworkError) as raised:
        gone.call("GET", "/anything")
    gone.close()
    assert raised.value.code is ErrorCode.PROVIDER_FAILED and raised.value.retryable
    assert "could not be reached" in raised.value.message
