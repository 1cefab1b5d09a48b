"""Credits over the real server: reserved at submit, charged what was made on success,
released on failure and cancel, every movement in the ledger, and no overspending when two
API hosts take submits for one key at once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import images
from tests.databases import fresh_database
from tests.server import ServerProcess
from tilework.client import ApiError, Client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("credits")
    running = ServerProcess(folder / "home", workers=1, max_attempts=1).start()
    yield running
    assert running.stop() == 0, running.log()


def funded(server: ServerProcess, credits: float) -> Client:
    with server.client() as admin:
        made = admin.create_key("acme", f"{credits:g} credits", credits=credits)
    return Client(server.url, made["key"])


def test_success_charges_what_was_made_and_failure_releases(
    server: ServerProcess, tmp_path: Path
) -> None:
    photo = images.photo(tmp_path / "p.png", 1000, 500)
    with funded(server, 10) as client:
        key = client.upload(photo)["key"]
        # 2000 x 1000 out: 2 megapixels, 2 credits.
        job = client.submit("resize", key=key, params={"width": 2000, "format": "png"})
        assert client.current_key()["credits"] == 8  # reserved at once
        assert client.wait(job["id"], timeout=60)["status"] == "succeeded"
        assert client.current_key()["credits"] == 8
        # An input that fails to decode: reserved, then released.
        broken = client.upload(images.truncated(photo, tmp_path / "cut.png"))["key"]
        failed = client.submit("resize", key=broken, params={"width": 2000, "format": "png"})
        assert client.wait(failed["id"], timeout=60)["status"] == "failed"
        assert client.current_key()["credits"] == 8
        # More than is left: 402, nothing queued, nothing moved.
        with pytest.raises(ApiError) as short:
            client.submit("resize", key=key, params={"width": 5000, "format": "png"})
        assert (short.value.status, short.value.code) == (402, "insufficient_credits")
        assert short.value.details == {"cost": 12.5, "balance": 8}
        ledger = client.ledger()
    kinds = [(entry["kind"], entry["amount"], entry["job_id"]) for entry in ledger["items"]]
    assert kinds[::-1] == [
        ("grant", 10, None),
        ("reserve", -2, job["id"]),
        ("release", 2, job["id"]),
        ("charge", -2, job["id"]),
        ("reserve", -2, failed["id"]),
        ("release", 2, failed["id"]),
    ]
    assert ledger["items"][0]["balance"] == 8


def test_cancel_releases_and_free_keys_count_nothing(tmp_path: Path) -> None:
    idle = ServerProcess(tmp_path / "home", workers=0).start()
    try:
        with funded(idle, 3) as client, idle.client() as admin:
            key = client.upload(images.photo(tmp_path / "p.jpg", 64, 64))["key"]
            job = client.submit("resize", key=key, params={"width": 10})
            assert client.current_key()["credits"] == 2
            client.cancel(job["id"])
            assert client.current_key()["credits"] == 3
            assert [e["kind"] for e in client.ledger()["items"]] == ["release", "reserve", "grant"]
            free = admin.upload(tmp_path / "p.jpg")["key"]
            admin.submit("resize", key=free, params={"width": 10})
            assert admin.current_key()["credits"] is None
            assert admin.ledger()["items"] == []
    finally:
        assert idle.stop() == 0, idle.log()


def test_two_api_hosts_never_overspend_one_key(tmp_path: Path) -> None:
    """40 submits of one credit each, from 16 threads across two API hosts on one PostgreSQL
    database, against a balance of 10: exactly 10 are taken."""
    storage = (tmp_path / "objects").as_uri()  # one store for both hosts, as one bucket
    with fresh_database("postgresql", tmp_path) as url:
        first = ServerProcess(tmp_path / "a", workers=0, database_url=url, storage_url=storage)
        first.start()
        second = ServerProcess(tmp_path / "b", workers=0, database_url=url, storage_url=storage)
        second.home.mkdir(parents=True)
        (second.home / "admin_key").write_text(first.api_key)  # for the tests' own client
        second.start()
        try:
            with first.client() as admin:
                made = admin.create_key("acme", "ten", credits=10)
                photo = images.photo(tmp_path / "p.jpg", 32, 32)
            hosts = [Client(host.url, made["key"]) for host in (first, second)]
            key = hosts[0].upload(photo)["key"]

            def submit(n: int) -> str:
                try:
                    hosts[n % 2].submit("noop", key=key, params={"sleep_ms": 1})
                    return "taken"
                except ApiError as error:
                    return error.code

            with ThreadPoolExecutor(16) as pool:
                outcomes = list(pool.map(submit, range(40)))
            assert outcomes.count("taken") == 10
            assert outcomes.count("insufficient_credits") == 30
            assert hosts[1].current_key()["credits"] == 0
            reserves = [e for e in hosts[0].ledger()["items"] if e["kind"] == "reserve"]
            assert len(reserves) == 10
            assert sorted(e["balance"] for e in reserves) == list(range(10))
            for client in hosts:
                client.close()
        finally:
            assert second.stop() == 0, second.log()
            assert first.stop() == 0, first.log()
