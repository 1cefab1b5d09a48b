"""Fetching through the policy, against real hostile HTTP sources on loopback addresses.

Loopback is blocked like any private address, so each test allow-lists only the address its
'public' source listens on (127.0.0.2) and keeps its 'internal' target on 127.0.0.1.
"""

from __future__ import annotations

import gzip
import socket
import time
from pathlib import Path

import pytest

from tests.support import hostile
from tilework.core.errors import ErrorCode, TileworkError
from tilework.net.download import MAX_REDIRECTS, Limits, download
from tilework.net.policy import FetchPolicy

PUBLIC = "127.0.0.2"  # plays a public host: the one address each policy here allows
IMAGE = b"\x89PNG\r\n\x1a\n" + b"pixels" * 100
LIMITS = Limits(max_bytes=1 << 20, deadline_seconds=10)


def allowing_public() -> FetchPolicy:
    return FetchPolicy.allowing([PUBLIC])


def refused(url: str, policy: FetchPolicy, target: Path, limits: Limits = LIMITS) -> TileworkError:
    with pytest.raises(TileworkError) as caught:
        download(url, target, policy, limits)
    return caught.value


def test_an_allowed_source_is_fetched(tmp_path: Path) -> None:
    with hostile.serving({"/a.png": hostile.body(IMAGE)}, host=PUBLIC) as source:
        size = download(f"{source.url}/a.png", tmp_path / "a", allowing_public(), LIMITS)
    assert size == len(IMAGE)
    assert (tmp_path / "a").read_bytes() == IMAGE


def test_loopback_is_refused_before_any_request(tmp_path: Path) -> None:
    with hostile.serving({"/secret": hostile.body(b"internal")}) as internal:
        error = refused(f"{internal.url}/secret", FetchPolicy(), tmp_path / "x")
        port = internal.url.rsplit(":", 1)[1]
        named = refused(f"http://localhost:{port}/secret", FetchPolicy(), tmp_path / "y")
        resolved = FetchPolicy(resolver=lambda host, p: ["127.0.0.1"])
        rebound = refused(f"http://images.example:{port}/secret", resolved, tmp_path / "z")
    for each in (error, named, rebound):
        assert each.code is ErrorCode.SSRF_BLOCKED
        assert not each.retryable
    assert "loopback" in rebound.message
    assert internal.hits["/secret"] == 0
    assert not (tmp_path / "x").exists()


def test_every_redirect_hop_is_checked(tmp_path: Path) -> None:
    with hostile.serving({"/secret": hostile.body(b"internal")}) as internal:
        routes = {
            "/to-internal": hostile.redirect(f"{internal.url}/secret"),
            "/to-metadata": hostile.redirect("http://169.254.169.254/latest/meta-data/", 307),
            "/to-file": hostile.redirect("file:///etc/passwd"),
            "/to-mapped": hostile.redirect("http://[::ffff:127.0.0.1]/secret", 301),
        }
        with hostile.serving(routes, host=PUBLIC) as source:
            for path in routes:
                error = refused(f"{source.url}{path}", allowing_public(), tmp_path / "x")
                assert error.code is ErrorCode.SSRF_BLOCKED, path
            assert all(source.hits[path] == 1 for path in routes)
    assert internal.hits["/secret"] == 0


def test_redirects_are_followed_at_most_five_times(tmp_path: Path) -> None:
    hops = {f"/{n}": hostile.redirect(f"/{n + 1}") for n in range(MAX_REDIRECTS + 1)}
    hops[f"/{MAX_REDIRECTS}"] = hostile.body(IMAGE)
    with hostile.serving(hops, host=PUBLIC) as source:
        assert download(f"{source.url}/0", tmp_path / "a", allowing_public(), LIMITS) > 0
        hops[f"/{MAX_REDIRECTS}"] = hostile.redirect(f"/{MAX_REDIRECTS + 1}")
        error = refused(f"{source.url}/0", allowing_public(), tmp_path / "b")
    assert error.code is ErrorCode.DOWNLOAD_FAILED
    assert error.details == {"max_redirects": MAX_REDIRECTS}


def test_a_rebinding_name_connects_where_it_was_checked(tmp_path: Path) -> None:
    """The name answers an allowed address once and loopback after: the connection goes to
    the address that was checked, and a later connection is checked afresh."""
    with hostile.serving({"/a.png": hostile.body(IMAGE)}, host=PUBLIC) as public:
        port = int(public.url.rsplit(":", 1)[1])
        with _loopback_on(port) as internal:
            answers = iter([[PUBLIC], ["127.0.0.1"], ["127.0.0.1"]])
            asked: list[str] = []

            def rebinding(host: str, _: int) -> list[str]:
                asked.append(host)
                return next(answers)

            policy = FetchPolicy.allowing([PUBLIC], resolver=rebinding)
            url = f"http://rebind.example:{port}/a.png"
            download(url, tmp_path / "a", policy, LIMITS)
            assert (tmp_path / "a").read_bytes() == IMAGE
            assert asked == ["rebind.example"]
            assert refused(url, policy, tmp_path / "b").code is ErrorCode.SSRF_BLOCKED
            assert internal.hits["/a.png"] == 0


def test_a_slow_loris_source_is_cut_at_the_deadline(tmp_path: Path) -> None:
    with hostile.serving({"/slow": hostile.trickle(0.1)}, host=PUBLIC) as source:
        started = time.monotonic()
        error = refused(f"{source.url}/slow", allowing_public(), tmp_path / "x", Limits(1 << 20, 1))
        took = time.monotonic() - started
    assert error.code is ErrorCode.DOWNLOAD_FAILED
    assert "too long" in error.message
    # A 1 s deadline against a trickle that never ends (nor reaches the byte cap for a day).
    assert took < 10


def test_an_endless_chunked_body_is_cut_at_the_byte_cap(tmp_path: Path) -> None:
    with hostile.serving({"/endless": hostile.endless_chunks()}, host=PUBLIC) as source:
        error = refused(f"{source.url}/endless", allowing_public(), tmp_path / "x")
    assert error.code is ErrorCode.DOWNLOAD_FAILED
    assert error.details == {"max_bytes": LIMITS.max_bytes}
    assert not error.retryable
    assert (tmp_path / "x").stat().st_size <= LIMITS.max_bytes


def test_a_gzip_bomb_is_cut_at_the_decoded_cap(tmp_path: Path) -> None:
    bomb = hostile.gzip_bomb(200 << 20)  # 200 MiB of zeros, about 200 KiB on the wire
    with hostile.serving({"/bomb": bomb}, host=PUBLIC) as source:
        error = refused(f"{source.url}/bomb", allowing_public(), tmp_path / "x")
    assert error.code is ErrorCode.DOWNLOAD_FAILED
    assert error.details == {"max_bytes": LIMITS.max_bytes}
    assert (tmp_path / "x").stat().st_size <= LIMITS.max_bytes


def test_an_honest_gzip_body_is_decoded(tmp_path: Path) -> None:
    route = hostile.body(gzip.compress(IMAGE), content_encoding="gzip")
    with hostile.serving({"/a.png": route}, host=PUBLIC) as source:
        size = download(f"{source.url}/a.png", tmp_path / "a", allowing_public(), LIMITS)
    assert size == len(IMAGE)
    assert (tmp_path / "a").read_bytes() == IMAGE


def test_unknown_encodings_and_damaged_gzip_fail(tmp_path: Path) -> None:
    routes = {
        "/br": hostile.body(b"\x0b\x02\x80", content_encoding="br"),
        "/broken": hostile.body(b"\x1f\x8b\x08\x00garbage", content_encoding="gzip"),
        "/short": hostile.body(gzip.compress(IMAGE)[:-12], content_encoding="gzip"),
    }
    with hostile.serving(routes, host=PUBLIC) as source:
        for path in routes:
            error = refused(f"{source.url}{path}", allowing_public(), tmp_path / "x")
            assert error.code is ErrorCode.DOWNLOAD_FAILED, path


def test_allow_listed_names_may_be_private(tmp_path: Path) -> None:
    with hostile.serving({"/a.png": hostile.body(IMAGE)}) as internal:
        port = internal.url.rsplit(":", 1)[1]
        policy = FetchPolicy.allowing(["localhost"])
        download(f"http://localhost:{port}/a.png", tmp_path / "a", policy, LIMITS)
    assert (tmp_path / "a").read_bytes() == IMAGE


class _loopback_on:  # noqa: N801 - used as a context manager, like hostile.serving
    """A second source on 127.0.0.1 at the same port as the public one, so that a connection
    that followed a second DNS answer would land there."""

    def __init__(self, port: int) -> None:
        self.port = port

    def __enter__(self) -> hostile.Source:
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", self.port))
        except OSError:
            pytest.skip(f"127.0.0.1:{self.port} is taken")
        finally:
            probe.close()
        self._serving = hostile.serving({"/a.png": hostile.body(b"internal")}, port=self.port)
        return self._serving.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._serving.__exit__(None, None, None)
