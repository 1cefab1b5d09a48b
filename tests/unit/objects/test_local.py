"""Local object storage: atomic puts, confinement to the root, signed URLs."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.unit.objects.contract import check_puts_report_and_overwrite
from tilework.core.errors import TileworkError
from tilework.objects.local import LocalObjectStore
from tilework.objects.signing import UrlSigner


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", UrlSigner(b"k", "http://127.0.0.1:1"))


def test_put_reports_size_and_hash_and_overwrites(store: LocalObjectStore, tmp_path: Path) -> None:
    check_puts_report_and_overwrite(store, tmp_path)


def test_keys_cannot_escape_the_root(store: LocalObjectStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / "link").symlink_to(outside)
    for key in ("../x", "link/secret"):
        with pytest.raises(TileworkError):
            store.path_of(key)


def test_missing_objects(store: LocalObjectStore) -> None:
    assert not store.exists("uploads/none")
    with pytest.raises(TileworkError) as caught, store.readable("uploads/none"):
        pass
    assert caught.value.code == "not_found"
    store.delete("uploads/none")


def test_urls_are_signed_for_the_key(store: LocalObjectStore) -> None:
    before = int(time.time())
    url = urlsplit(store.url("jobs/a/output.png", 60))
    assert url.geturl().startswith("http://127.0.0.1:1/v1/objects/jobs/a/output.png?expires=")
    query = parse_qs(url.query)
    expires, signature = int(query["expires"][0]), query["signature"][0]
    assert before + 60 <= expires <= int(time.time()) + 60
    # The signature is the store's key's, for this key, method and expiry only.
    assert store.signer.verify("GET", "jobs/a/output.png", expires, signature)
    assert not store.signer.verify("GET", "jobs/b/output.png", expires, signature)
    assert not store.signer.verify("PUT", "jobs/a/output.png", expires, signature)
    assert not store.signer.verify("GET", "jobs/a/output.png", expires + 1, signature)
    other = UrlSigner(b"another key", "http://127.0.0.1:1")
    assert not other.verify("GET", "jobs/a/output.png", expires, signature)
