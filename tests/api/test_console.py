"""The console in process (``/console``, through the app's ASGI interface with a cookie jar, as a
browser would): sign-in, filters in the URL, tenants apart, previews made by the workers' duty,
bulk actions and the audit log. The real browser drives it in
``tests/acceptance/test_console.py``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support import images
from tests.support.api import InProcessApi, MakeApi
from tests.support.loopback import LOOPBACK
from tests.support.receiver import receiving
from tilework.store.audit import audited
from tilework.store.previews import previews_of
from tilework.worker.previews import Previews

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@contextmanager
def signed_in(api: InProcessApi, key: str) -> Iterator[httpx.Client]:
    """A cookie-keeping client signed in to the console with ``key``."""
    with api.anonymous() as browser:
        answer = browser.post(
            "/console/login", data={"key": key, "csrf": csrf_of(browser.get("/console/login"))}
        )
        assert answer.status_code == 303, answer.text
        yield browser


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def job_ids(page: httpx.Response) -> set[str]:
    return set(re.findall(r'data-job="([0-9a-z]{26})"', page.text))


def test_sign_in_is_checked_and_every_page_wants_it(api: InProcessApi) -> None:
    with api.anonymous() as anyone:
        away = anyone.get("/console/jobs?status=failed")
        assert away.status_code == 303
        assert away.headers["location"] == "/console/login?next=%2Fconsole%2Fjobs%3Fstatus%3Dfailed"
        assert anyone.get("/console?part=numbers").status_code == 401
        token = csrf_of(anyone.get("/console/login"))
        wrong = anyone.post("/console/login", data={"key": "tw_" + "x" * 43, "csrf": token})
        assert wrong.status_code == 401 and "not a valid API key" in wrong.text
        forged = anyone.post("/console/login", data={"key": api.admin_key, "csrf": "forged"})
        assert forged.status_code == 403
        assert "tw_console" not in anyone.cookies
        # Only the console's own paths are followed after sign-in.
        elsewhere = anyone.post(
            "/console/login",
            data={"key": api.admin_key, "csrf": token, "next": "https://evil.example/"},
        )
        assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/console"
        cookie = elsewhere.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
        assert anyone.get("/console").status_code == 200
    entries = [entry["action"] for entry in audited(api.services.database)]
    assert "console.sign_in" in entries


def test_filters_in_the_url_and_tenants_apart(api: InProcessApi, tmp_path: Path) -> None:
    image = images.photo(tmp_path / "p.png", 16, 12)
    with api.tenant() as acme, api.tenant() as globex:
        key = acme.upload(image)["key"]
        small = acme.submit("resize", key=key, params={"width": 8})
        wide = acme.submit("resize", key=key, params={"width": 12}, idempotency_key="wide-one")
        other = acme.submit("noop", key=key, params={"sleep_ms": 1})
        theirs = globex.submit("resize", key=globex.upload(image)["key"], params={"width": 8})
        acme.cancel(other["id"])
        acme_key = acme._http.headers["authorization"].removeprefix("Bearer ")
        globex_key = globex._http.headers["authorization"].removeprefix("Bearer ")
        globex_tenant = globex.current_key()["tenant"]
    with signed_in(api, acme_key) as browser:
        everything = browser.get("/console/jobs")
        assert job_ids(everything) == {small["id"], wide["id"], other["id"]}
        cases = {
            "operation=resize": {small["id"], wide["id"]},
            "status=canceled": {other["id"]},
            "text=%2212%22": set(),  # a string "12" is not in any params
            "text=12": {wide["id"]},
            "idempotency_key=wide-one": {wide["id"]},
            "tenant=" + "x": {small["id"], wide["id"], other["id"]},  # not an admin: ignored
            "since=2000-01-01T00:00&until=2000-01-02T00:00": set(),
        }
        for query, expected in cases.items():
            assert job_ids(browser.get(f"/console/jobs?{query}")) == expected, query
        bad = browser.get("/console/jobs?since=yesterday")
        assert bad.status_code == 400 and "not an ISO 8601 time" in bad.text
        assert browser.get(f"/console/jobs/{theirs['id']}").status_code == 404
        live = browser.get("/console/jobs?operation=resize&part=rows")
        assert live.status_code == 200 and "<html" not in live.text
        assert job_ids(live) == {small["id"], wide["id"]}
    with signed_in(api, api.admin_key) as admin:
        mine = job_ids(admin.get("/console/jobs"))
        assert {small["id"], theirs["id"]} <= mine
        assert job_ids(admin.get(f"/console/jobs?tenant={globex_tenant}")) == {theirs["id"]}
    with signed_in(api, globex_key) as browser:
        assert job_ids(browser.get("/console/jobs")) == {theirs["id"]}


def test_previews_are_made_once_a_job_ends_and_shown_to_its_tenant(
    api: InProcessApi, tmp_path: Path
) -> None:
    image = images.photo(tmp_path / "p.png", 400, 300)
    with api.tenant() as acme, api.tenant() as globex:
        key = acme.upload(image)["key"]
        resized = acme.submit("resize", key=key, params={"width": 300})
        palettes = [["#1a2b3c", "#f0e0d0"], ["#ff8800", "#004488", "#ffffff"]]
        paletted = acme.submit("palette", key=key, params={"palettes": palettes})
        imageless = acme.submit("noop", key=key)  # succeeds making no image: no previews
        acme_key = acme._http.headers["authorization"].removeprefix("Bearer ")
        globex_key = globex._http.headers["authorization"].removeprefix("Bearer ")
    api.work()
    previews = Previews(api.services.database, api.services.objects)
    assert previews.turn()
    assert previews_of(api.services.database, imageless["id"]) == []
    assert len(previews_of(api.services.database, paletted["id"])) == 1 + len(palettes)
    with signed_in(api, acme_key) as browser:
        page = browser.get(f"/console/jobs/{resized['id']}")
        assert 'id="preview-input"' in page.text and 'id="preview-output-0"' in page.text
        picture = browser.get(f"/console/jobs/{resized['id']}/previews/output-0")
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/webp"
        assert picture.content[:4] == b"RIFF" and picture.content[8:12] == b"WEBP"
        swatched = browser.get(f"/console/jobs/{paletted['id']}").text
        for index, palette in enumerate(palettes):
            assert f'id="swatches-{index}"' in swatched
            for colour in palette:
                assert f"background: {colour}" in swatched
        # The pictures of an ended job no longer change: the script stops fetching them.
        part = browser.get(f"/console/jobs/{resized['id']}?part=pictures")
        assert part.headers.get("x-live") == "stop"
    with signed_in(api, globex_key) as browser:
        path = f"/console/jobs/{resized['id']}/previews/output-0"
        assert browser.get(path).status_code == 404


def test_a_bulk_cancel_runs_in_the_background_and_is_audited(
    api: InProcessApi, tmp_path: Path
) -> None:
    image = images.photo(tmp_path / "p.png", 8, 8)
    with api.tenant() as acme:
        key = acme.upload(image)["key"]
        queued = [acme.submit("noop", key=key, params={"tasks": 3}) for _ in range(4)]
        acme_key = acme._http.headers["authorization"].removeprefix("Bearer ")
        tenant = acme.current_key()["tenant"]
    with api.client() as admin:
        reader = admin.create_key(tenant, "reads", role="read_only")["key"]
    with signed_in(api, reader) as browser:
        page = browser.get("/console/jobs")
        assert 'id="bulk"' not in page.text  # no buttons for a read-only key
        refused = browser.post("/console/bulk", data={"action": "cancel", "csrf": csrf_of(page)})
        assert refused.status_code == 403 and "read-only" in refused.text
    with signed_in(api, acme_key) as browser:
        page = browser.get("/console/jobs?operation=noop")
        no_token = browser.post("/console/bulk", data={"action": "cancel", "operation": "noop"})
        assert no_token.status_code == 403
        started = browser.post(
            "/console/bulk",
            data={"action": "cancel", "operation": "noop", "csrf": csrf_of(page)},
        )
        assert started.status_code == 303
        progress_url = started.headers["location"]
        deadline = time.monotonic() + 30
        while '<b id="bulk-status">done</b>' not in (shown := browser.get(progress_url).text):
            assert time.monotonic() < deadline, shown
            time.sleep(0.1)
        assert '<span id="bulk-done">4</span>' in shown
    with api.client(acme_key) as acme:
        assert {acme.job(job["id"])["status"] for job in queued} == {"canceled"}
    actions = [(e["action"], e["tenant"]) for e in audited(api.services.database)]
    assert ("console.bulk_cancel", tenant) in actions


def test_a_jobs_attempts_and_webhooks_and_sending_one_again(
    make_api: MakeApi, tmp_path: Path
) -> None:
    api = make_api(fetch_allow_hosts=LOOPBACK, retry_base_seconds=0.05, retry_max_seconds=0.1)
    with receiving() as receiver, api.tenant() as acme:
        job = acme.submit(
            "test_flaky",
            key=acme.upload(images.photo(tmp_path / "p.png", 8, 8))["key"],
            params={"fail_attempts": 2},
            webhook={"url": f"{receiver.url}/hook", "events": ["succeeded"]},
        )
        acme_key = acme._http.headers["authorization"].removeprefix("Bearer ")
        api.work()
        assert acme.job(job["id"])["status"] == "succeeded"
        (first,) = receiver.wait_for(1)
        with signed_in(api, acme_key) as browser:
            page = browser.get(f"/console/jobs/{job['id']}")
            # Both failed attempts are in the timeline, with the worker that ran them.
            for attempt in (1, 2):
                assert f"attempt {attempt} failed" in page.text
            assert "planned failure on attempt 2" in page.text and "worker " in page.text
            delivery = re.search(r'data-delivery="([^"]+)"', page.text)
            assert delivery is not None and "delivered" in page.text
            sent = browser.post(
                f"/console/jobs/{job['id']}/deliveries/{delivery.group(1)}/send-again",
                data={"csrf": csrf_of(page)},
            )
            assert sent.status_code == 303
            again = receiver.wait_for(2)[1]
        assert again.headers["webhook-id"] == first.headers["webhook-id"]
        assert again.body == first.body
    entries = [(e["action"], e["target"]) for e in audited(api.services.database)]
    assert ("console.send_again", job["id"]) in entries
