"""Scheduling, in process on SQLite and PostgreSQL with worker threads claiming as they always
do (batches sized to the tasks): fair share between tenants, priorities within a tenant,
concurrency limits, scheduled starts and deadlines, and the queue per tenant."""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support import images
from tests.support.api import InProcessApi, MakeApi
from tilework.store.database import Database
from tilework.store.schema import tasks
from tilework.worker.deadlines import Deadlines

# The fair-share test's tasks: long beside a claim's and a commit's overhead (a few tens of
# milliseconds on a loaded machine), so its bound of two task durations measures the
# scheduling, not the overhead.
TASK_SECONDS = 2.0


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def wait_until(check: Any, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError(f"not within {seconds} s")


def running_count(app: InProcessApi) -> int:
    return sum(each.running for each in app.services.queue.tenant_queues())


def earliest_start(app: InProcessApi) -> float:
    """When the first of the running tasks started (unix seconds)."""
    query = sa.select(sa.func.min(tasks.c.started_at)).where(tasks.c.status == "running")
    with app.services.database.read() as conn:
        return float(conn.execute(query).scalar_one())


def uploaded(app: InProcessApi, key: str | None = None) -> dict[str, str]:
    """A job input: a tiny image uploaded with ``key`` (else the admin's)."""
    with app.client(key) as client:
        upload = client.upload(images.photo(app.settings.home / "tiny.png", 4, 4))
    return {"key": upload["key"]}


def post_job(app: InProcessApi, key: str | None = None, **body: Any) -> dict[str, Any]:
    """``POST /v1/jobs`` with ``key`` (else the admin's); its input a tiny uploaded image
    unless the body names one."""
    if "input" not in body:
        body["input"] = uploaded(app, key)
    with app.client(key) as client:
        answer = client._http.post("/v1/jobs", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def ended(app: InProcessApi, job_id: str, key: str | None = None) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        with app.client(key) as client:
            job = client.job(job_id)
        return job if job["status"] in ("succeeded", "failed", "canceled") else None

    found: dict[str, Any] = wait_until(done)
    return found


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def test_another_tenants_one_task_job_does_not_wait_behind_400_tasks(
    backend: str, make_api: MakeApi
) -> None:
    """Tenant A's job of 400 tasks holds both workers; tenant B's one-task job, submitted
    after it, finishes within two task durations of its submit: at most one of A's tasks
    ends first (first come, first served would make it wait for the 400: 800 s)."""
    # In-process workers run a task in their own thread, heartbeating only between tasks: a
    # lease longer than a task keeps its task theirs.
    app = make_api(backend, lease_seconds=4 * TASK_SECONDS)
    tenant_b = app.tenant_key()
    task_ms = int(TASK_SECONDS * 1000)
    big = post_job(app, operation="noop", params={"tasks": 400, "sleep_ms": task_ms})
    b_input = uploaded(app, tenant_b)  # before the workers start: the submit below is one call
    with ExitStack() as workers:
        for _ in range(2):
            workers.enter_context(app.working())
        wait_until(lambda: running_count(app) == 2)
        # Half a task into the first worker's current task, so both workers' next claims come
        # after B's submit, with time to spare for a slow commit: B's wait is at most the
        # rest of a task, then its own run. Claiming first come, first served, those claims
        # would take A's next tasks and B would wait for all 400.
        time.sleep(max(0.0, earliest_start(app) + 0.5 * TASK_SECONDS - time.time()))
        small = post_job(
            app, tenant_b, operation="noop", params={"sleep_ms": task_ms}, input=b_input
        )
        done = ended(app, small["id"], tenant_b)
        assert done["status"] == "succeeded", done
        waited = seconds_between(done["created_at"], done["completed_at"])
        # Half a task until a worker frees, its own run, and the overhead.
        assert waited <= 2 * TASK_SECONDS, waited
        queued = {each.tenant: each.queued for each in app.services.queue.tenant_queues()}
        assert queued["default"] >= 380, queued  # A's job was still far from its end
        assert app.http.post(f"/v1/jobs/{big['id']}/cancel").status_code == 200


def test_priority_orders_a_tenants_own_work(backend: str, make_api: MakeApi) -> None:
    app = make_api(backend, claim_batch=1)  # one task a claim: each starts at its own time
    submitted = [
        post_job(app, operation="test_sleep", params={"seconds": 0}, priority=priority)
        for priority in (0, -5, 10, 0, 3)
    ]
    with app.working():
        for job in submitted:
            ended(app, job["id"])
    started = {
        job["id"]: app.http.get(f"/v1/jobs/{job['id']}").json()["started_at"] for job in submitted
    }
    order = sorted(started, key=lambda job_id: started[job_id])
    by_id = {job["id"]: job["priority"] for job in submitted}
    assert [by_id[job_id] for job_id in order] == [10, 3, 0, 0, -5]
    # Equal priorities: first come, first served.
    zeros = [job["id"] for job in submitted if job["priority"] == 0]
    assert [job_id for job_id in order if job_id in zeros] == zeros


def most_running_at_once(database: Database, seconds: float) -> dict[str, int]:
    """Sample the running tasks per operation until ``seconds`` pass: the most seen."""
    most: dict[str, int] = {}
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        with database.read() as conn:
            rows = conn.execute(tasks.select().where(tasks.c.status == "running")).mappings().all()
        for name in {row["tenant"] for row in rows} | {row["operation"] for row in rows}:
            count = sum(1 for row in rows if name in (row["tenant"], row["operation"]))
            most[name] = max(most.get(name, 0), count)
        time.sleep(0.01)
    return most


def test_concurrency_limits_hold_across_workers(backend: str, make_api: MakeApi) -> None:
    """Three workers; at most one test_sleep task and at most two of the default tenant's
    tasks run at once, while the other work fills the rest."""
    app = make_api(backend, operation_limits={"test_sleep": 1}, tenant_limits={"default": 2})
    tenant_b = app.tenant_key()
    # Quick ones: once a worker has timed one, it claims several at a time.
    sleeps = [
        post_job(app, tenant_b, operation="test_sleep", params={"seconds": 0.02}) for _ in range(12)
    ]
    fanout = post_job(app, operation="test_fanout", params={"tasks": 8, "seconds": 0.1})
    with ExitStack() as workers:
        for _ in range(3):
            workers.enter_context(app.working())
        most = most_running_at_once(app.services.database, 1.0)
        for job in sleeps:
            assert ended(app, job["id"], tenant_b)["status"] == "succeeded"
        assert ended(app, fanout["id"])["status"] == "succeeded"
    assert most.get("test_sleep") == 1, most
    assert most.get("default") == 2, most


def test_a_scheduled_start_waits_and_a_deadline_cancels_with_timeout(
    backend: str, make_api: MakeApi
) -> None:
    app = make_api(backend)
    source = uploaded(app)  # first: the times below count from the submits
    now = datetime.now(UTC)
    later = post_job(
        app,
        operation="test_sleep",
        params={"seconds": 0},
        input=source,
        run_at=(now + timedelta(seconds=1.5)).isoformat(),
    )
    assert later["run_at"] is not None and later["priority"] == 0
    # Past its deadline in a second, before any worker runs.
    overdue = post_job(
        app,
        operation="test_sleep",
        params={"seconds": 0},
        input=source,
        deadline=(now + timedelta(seconds=1)).isoformat(),
    )
    refused = app.http.post(
        "/v1/jobs",
        json={
            "operation": "test_sleep",
            "run_at": (now + timedelta(seconds=5)).isoformat(),
            "deadline": (now + timedelta(seconds=2)).isoformat(),
        },
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"]["errors"][0]["field"] == "deadline"
    (view,) = app.http.get("/v1/queue").json()["tenants"]
    assert (view["tenant"], view["queued"], view["running"]) == ("default", 2, 0)
    assert 0 <= view["oldest_wait_seconds"] < 5 and view["oldest_queued_at"]
    with app.tenant() as tenant:
        assert tenant._http.get("/v1/queue").status_code == 403
    time.sleep(max(0.0, (now + timedelta(seconds=1.1) - datetime.now(UTC)).total_seconds()))
    # Deadlines are a duty taken in turns through the database, as every worker host runs it
    # (``worker.deadlines``): a second host's duty finds the turn taken.
    first = Deadlines(app.settings, app.services.queue, app.services.database)
    second = Deadlines(app.settings, app.services.queue, app.services.database)
    second.holder = "another-host:1:deadlines"
    assert first.turn()
    assert not second.turn()  # not due again for a second
    with app.working(), ExitStack() as duties:
        for duty in (first, second):
            duty.start()
            duties.callback(duty.stop)
        done = ended(app, later["id"])
        stopped = ended(app, overdue["id"])
    assert done["status"] == "succeeded"
    assert done["started_at"] >= later["run_at"]
    assert stopped["status"] == "canceled" and stopped["error"]["code"] == "timeout"
    assert stopped["started_at"] is None


@pytest.mark.parametrize("fair_share", [True, False])
def test_with_fair_share_off_claims_are_first_come_first_served(
    backend: str, make_api: MakeApi, fair_share: bool
) -> None:
    """``TILEWORK_FAIR_SHARE=false`` (kept for measuring what fairness costs): one claim takes
    the oldest tasks whoever's they are; fair, it takes the later tenant's too."""
    app = make_api(backend, fair_share=fair_share)
    tenant_b = app.tenant_key()
    post_job(app, operation="noop", params={"tasks": 6})
    post_job(app, tenant_b, operation="noop")
    claimed = app.services.queue.claim("test-host:1:0", 4, 30)
    tenants = [claimed_task.tenant for claimed_task in claimed]
    assert len(claimed) == 4
    if fair_share:
        assert tenants.count("default") == 3 and len(set(tenants)) == 2, tenants
    else:
        assert tenants == ["default"] * 4, tenants
