"""Credits in process: reserved at submit, charged what was made on success, released on
failure and cancel, every movement in the ledger. Two API hosts on one PostgreSQL database:
``tests/acceptance/test_tenants.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import images
from tests.support.api import InProcessApi, MakeApi
from tests.support.tenancy import check_credits
from tilework.client import Client, JobBody


@pytest.fixture
def api(make_api: MakeApi) -> InProcessApi:
    return make_api(max_attempts=1)


def test_success_charges_what_was_made_and_failure_and_cancel_release(
    api: InProcessApi, tmp_path: Path
) -> None:
    def finish(client: Client, job_id: str) -> JobBody:
        api.work()
        return client.job(job_id)

    with api.tenant(credits=10) as client:
        check_credits(client, finish, tmp_path)


def test_cancel_releases_and_free_keys_count_nothing(api: InProcessApi, tmp_path: Path) -> None:
    # No worker runs: the job is still queued when it is canceled.
    with api.tenant(credits=3) as client, api.client() as admin:
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
