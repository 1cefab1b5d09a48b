"""S3 storage against a real S3 HTTP server: multipart puts, presigned GETs, no checksum headers."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from tests.support.images import huge_header_png, photo
from tests.support.s3 import S3Server
from tests.unit.objects.contract import check_puts_report_and_overwrite
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.settings import Settings
from tilework.imaging.header import read_size_of
from tilework.objects import s3
from tilework.objects.factory import open_object_store
from tilework.objects.s3 import PART_BYTES, S3ObjectStore


def s3_store(s3_server: S3Server, tmp_path: Path, prefix: str = "") -> S3ObjectStore:
    bucket = s3_server.new_bucket()
    settings = Settings(home=tmp_path / "home", **s3_server.settings(bucket, prefix))
    store = open_object_store(settings)
    assert isinstance(store, S3ObjectStore)
    return store


def test_put_read_overwrite_and_delete(s3_server: S3Server, tmp_path: Path) -> None:
    store = s3_store(s3_server, tmp_path)
    check_puts_report_and_overwrite(store, tmp_path)
    with store.readable("jobs/a/output.png") as local:
        assert local.read_bytes() == b"second"
    assert not local.exists()
    assert store.exists("jobs/a/output.png")
    store.delete("jobs/a/output.png")
    assert not store.exists("jobs/a/output.png")


def test_large_files_go_up_in_parts_and_come_down_presigned(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One part at a time: moto's recorder appends requests to its file without a lock.
    monkeypatch.setattr(s3, "UPLOAD_CONCURRENCY", 1)
    store = s3_store(s3_server, tmp_path, prefix="tenant/outputs")
    content = os.urandom(2 * PART_BYTES + 12345)
    source = tmp_path / "big.png"
    source.write_bytes(content)
    s3_server.start_recording()
    store.put_file("jobs/b/output.png", source)
    requests = s3_server.recorded()
    parts = [r for r in requests if r["method"] == "PUT" and "partNumber=" in r["url"]]
    assert len(parts) == 3
    assert any(r["method"] == "POST" and "uploads" in r["url"] for r in requests)
    # Several S3-compatible servers (R2, older MinIO, Supabase) reject flexible checksums.
    sent = {name.lower() for r in requests for name in r["headers"]}
    assert not {name for name in sent if name.startswith("x-amz-checksum")}
    assert "x-amz-sdk-checksum-algorithm" not in sent

    url = store.url("jobs/b/output.png", 60)
    assert "/tenant/outputs/jobs/b/output.png?" in url and "X-Amz-Signature=" in url
    answer = httpx.get(url, timeout=60)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    assert hashlib.sha256(answer.content).digest() == hashlib.sha256(content).digest()


def test_headers_are_read_without_downloading_the_body(s3_server: S3Server, tmp_path: Path) -> None:
    store = s3_store(s3_server, tmp_path)
    store.put_file("uploads/small", photo(tmp_path / "p.jpg", 320, 200))
    store.put_file("uploads/flood", huge_header_png(tmp_path / "f.png", 100_000, 100_000))
    with store.open("uploads/small") as handle:
        size = read_size_of(handle, 10_000_000)
    assert (size.width, size.height) == (320, 200)
    with pytest.raises(TileworkError) as caught, store.open("uploads/flood") as handle:
        read_size_of(handle, 10_000_000)
    assert caught.value.code is ErrorCode.IMAGE_TOO_LARGE


def test_missing_objects(s3_server: S3Server, tmp_path: Path) -> None:
    store = s3_store(s3_server, tmp_path)
    assert not store.exists("uploads/none")
    for opener in (store.readable, store.open):
        with pytest.raises(TileworkError) as caught, opener("uploads/none"):
            pass
        assert caught.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(TileworkError) as caught:
        b"".join(store.open_chunks("uploads/none"))
    assert caught.value.code is ErrorCode.NOT_FOUND


def test_unreachable_storage_is_a_retryable_error(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "home",
        storage_url="s3://bucket",
        s3_endpoint="http://127.0.0.1:9",  # the discard port: nothing listens
        s3_access_key_id="k",
        s3_secret_access_key="s",
    )
    store = open_object_store(settings)
    source = tmp_path / "src"
    source.write_bytes(b"x")
    with pytest.raises(TileworkError) as caught:
        store.put_file("jobs/c/output.png", source)
    assert caught.value.code is ErrorCode.UPLOAD_FAILED
    assert caught.value.retryable
    assert source.exists()  # nothing is lost: the task's retry uploads it again


def test_unsupported_storage_urls(tmp_path: Path) -> None:
    for url in ("ftp://host/x", "s3://", "gs://bucket"):
        with pytest.raises(TileworkError) as caught:
            open_object_store(Settings(home=tmp_path, storage_url=url))
        assert caught.value.code is ErrorCode.VALIDATION_FAILED
