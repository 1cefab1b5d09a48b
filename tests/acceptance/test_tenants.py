"""Keys, tenants and credits through real servers on SQLite and PostgreSQL (the production
backend's filters and ledger SQL), and two API hosts that must not overspend one key.

The same promises in depth, in process on SQLite: ``tests/api/test_keys.py`` and
``tests/api/test_credits.py``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.support import images
from tests.support.databases import fresh_database
from tests.support.server import ServerProcess
from tests.support.tenancy import check_credits, check_every_route_wants_a_key, check_tenants_apart
from tilework.client import ApiError, Client, JobBody


def finish(client: Client, job_id: str) -> JobBody:
    return client.wait(job_id, timeout=60)


def test_every_v1_route_wants_a_key_and_refusals_look_alike(server: ServerProcess) -> None:
    with server.client() as admin, httpx.Client(base_url=server.url, timeout=10) as anyone:
        check_every_route_wants_a_key(admin, anyone, server.api_key)


def test_another_tenants_ids_are_404_everywhere(server: ServerProcess, tmp_path: Path) -> None:
    with (
        server.tenant() as acme,
        server.tenant() as globex,
        httpx.Client(timeout=10) as anyone,
    ):
        check_tenants_apart(acme, globex, anyone, finish, tmp_path)


def test_credits_are_reserved_charged_and_released_in_the_ledger(
    server: ServerProcess, tmp_path: Path
) -> None:
    with server.tenant(credits=10) as client:
        check_credits(client, finish, tmp_path)


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
