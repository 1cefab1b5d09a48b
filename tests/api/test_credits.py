"""Credits in process: reserved at submit, charged what was made on success, released on
failure and cancel, every movement in the ledger. Two API hosts on one PostgreSQL database:
``tests/acceptance/test_tenants.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import images
from tests.support.api import InProcessApi, MakeApi
from tests.support.fileserver import serving
from tests.support.loopback import LOOPBACK
from tests.support.tenancy import check_credits
from tilework.client import Client, JobBody
from tilework.core.credits import megapixel_cost


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


def test_a_url_input_reserves_for_the_largest_input_and_is_charged_what_was_made(
    make_api: MakeApi, tmp_path: Path
) -> None:
    """Its size is unknown until a worker downloads it: the reservation assumes the largest
    square input allowed (3000 × 3000 here), the charge is the output's megapixels, and the
    difference comes back."""
    api = make_api(fetch_allow_hosts=LOOPBACK, max_input_pixels=9_000_000)  # a loopback source
    images.photo(tmp_path / "p.jpg", 640, 480)
    with serving(tmp_path) as base, api.tenant(credits=10) as client:
        job = client.submit("resize", url=f"{base}/p.jpg", params={"width": 2000})
        # A 2000 px wide output of a 3000 × 3000 input: 2000 × 2000.
        assert client.current_key()["credits"] == 10 - 4.0
        api.work()
        done = client.job(job["id"])
        assert done["status"] == "succeeded", done
        (output,) = done["outputs"]
        assert (output["width"], output["height"]) == (2000, 1500)
        made = megapixel_cost(2000 * 1500)  # 3.0, less than reserved
        assert client.current_key()["credits"] == 10 - made
        movements = [(e["kind"], e["amount"]) for e in client.ledger()["items"]]
    assert movements == [("charge", -made), ("release", 4.0), ("reserve", -4.0), ("grant", 10)]
