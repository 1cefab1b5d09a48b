"""The event log and deferred tasks, on real SQLite and PostgreSQL: what the stream, webhooks
and remote providers stand on."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from tests.support.jobs import LEASE, WORKER, noop_job
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import EventType, JobStatus, TaskStatus
from tilework.queue.sql import SqlQueue
from tilework.store import events as event_log
from tilework.store.database import Database
from tilework.store.deliveries import Deliveries, DeliveryStatus
from tilework.store.events import EventLog

SENDER = "test-sender"


def test_each_change_of_state_is_logged_with_the_job_as_it_was(
    queue: SqlQueue, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # However slow the machine, no progress event comes between these changes of state.
    monkeypatch.setattr(event_log, "PROGRESS_INTERVAL_SECONDS", 3600.0)
    job, _ = queue.create_job(noop_job(tasks=3))
    claimed = queue.claim(WORKER, 10, LEASE)
    queue.complete(claimed[0].task.id, WORKER, {"n": 0}, {})
    for item in claimed[1:]:
        queue.complete(item.task.id, WORKER, {"n": 1}, {})
    events = EventLog(database).after(job.id)
    assert [e.type for e in events] == [EventType.STARTED, EventType.SUCCEEDED]
    assert events[0].job.status is JobStatus.RUNNING and events[0].job.tasks_done == 0
    assert events[1].job.status is JobStatus.SUCCEEDED and events[1].job.tasks_done == 3
    assert EventLog(database).after(job.id, events[0].id) == events[1:]


def test_progress_is_logged_at_most_once_an_interval(
    queue: SqlQueue, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A whole second rather than the production 0.5 s: slow statements on a loaded machine
    # must not carry a completion across the window.
    monkeypatch.setattr(event_log, "PROGRESS_INTERVAL_SECONDS", 1.0)
    job, _ = queue.create_job(noop_job(tasks=4))
    claimed = queue.claim(WORKER, 10, LEASE)
    queue.complete(claimed[0].task.id, WORKER, {"n": 0}, {})  # within the interval of the start
    time.sleep(1.05)
    queue.complete(claimed[1].task.id, WORKER, {"n": 1}, {})
    queue.complete(claimed[2].task.id, WORKER, {"n": 2}, {})  # within the interval of the last
    types = [e.type for e in EventLog(database).after(job.id)]
    assert types == [EventType.STARTED, EventType.PROGRESS]


def test_failure_and_cancel_end_the_log(queue: SqlQueue, database: Database) -> None:
    failing, _ = queue.create_job(noop_job())
    (item,) = queue.claim(WORKER, 1, LEASE)
    queue.fail(item.task.id, WORKER, TileworkError(ErrorCode.CORRUPT_IMAGE, "bad"))
    canceled, _ = queue.create_job(noop_job())
    queue.cancel_job(canceled.id)
    log = EventLog(database)
    assert [e.type for e in log.after(failing.id)][-1] is EventType.FAILED
    assert log.after(failing.id)[-1].job.error_code == "corrupt_image"
    assert [e.type for e in log.after(canceled.id)] == [EventType.CANCELED]


def test_a_webhook_gets_a_delivery_per_subscribed_event(
    queue: SqlQueue, database: Database
) -> None:
    new = noop_job()
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["succeeded"], "format": "tilework"}
    job, _ = queue.create_job(replace(new, webhook=hook))
    (item,) = queue.claim(WORKER, 1, LEASE)
    queue.complete(item.task.id, WORKER, {"n": 0}, {})
    deliveries = Deliveries(database)
    (only,) = deliveries.for_job(job.id)
    assert only.event == "succeeded" and only.status is DeliveryStatus.PENDING
    (claimed,) = deliveries.claim(SENDER, 10, 60)
    assert claimed.id == only.id and deliveries.claim(SENDER, 10, 60) == []  # leased
    deliveries.disable_endpoint(hook["url"], "answered 410 Gone")
    assert deliveries.settle(only.id, SENDER, {"attempt": 1}, DeliveryStatus.DISABLED)
    again, _ = queue.create_job(replace(new, webhook=hook))
    (item,) = queue.claim(WORKER, 1, LEASE)
    queue.complete(item.task.id, WORKER, {"n": 0}, {})
    (skipped,) = deliveries.for_job(again.id)
    assert skipped.status is DeliveryStatus.DISABLED and skipped.attempts == 0


def test_a_sender_whose_lease_lapsed_cannot_settle_the_delivery_another_took(
    queue: SqlQueue, database: Database
) -> None:
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["succeeded"], "format": "tilework"}
    job, _ = queue.create_job(replace(noop_job(), webhook=hook))
    (item,) = queue.claim(WORKER, 1, LEASE)
    queue.complete(item.task.id, WORKER, {"n": 0}, {})
    deliveries = Deliveries(database)
    (first,) = deliveries.claim("sender-a", 10, 0.05)  # a lease that lapses at once
    time.sleep(0.1)
    (second,) = deliveries.claim("sender-b", 10, 60)  # due again: its sender stopped
    assert second.id == first.id
    assert not deliveries.settle(first.id, "sender-a", {"attempt": 1}, DeliveryStatus.DELIVERED)
    assert deliveries.settle(second.id, "sender-b", {"attempt": 1}, DeliveryStatus.DELIVERED)
    (settled,) = deliveries.for_job(job.id)
    assert settled.status is DeliveryStatus.DELIVERED and settled.attempts == 1
    assert settled.log == [{"attempt": 1}]


def test_a_deferred_task_keeps_its_state_and_its_attempt(queue: SqlQueue) -> None:
    job, _ = queue.create_job(noop_job())
    (item,) = queue.claim(WORKER, 1, LEASE)
    assert queue.defer(item.task.id, WORKER, {"prediction": "p1"}, 60, {"submit": 0.5})
    assert queue.claim(WORKER, 1, LEASE) == []  # not due for a minute
    assert queue.wake(item.task.id)
    (again,) = queue.claim(WORKER, 1, LEASE)
    assert again.task.payload["deferred"] == {"prediction": "p1"}
    assert again.task.attempts == 1  # the deferred run spent nothing
    assert queue.get_job(job.id).timings == {"submit": 0.5}  # type: ignore[union-attr]


def test_a_wake_during_the_run_makes_the_deferral_due_at_once(queue: SqlQueue) -> None:
    queue.create_job(noop_job())
    (item,) = queue.claim(WORKER, 1, LEASE)
    time.sleep(0.01)
    assert queue.wake(item.task.id)  # the callback beat the deferral
    queue.defer(item.task.id, WORKER, {"prediction": "p1"}, 60)
    (again,) = queue.claim(WORKER, 1, LEASE)
    assert again.task.id == item.task.id


def test_a_canceled_task_is_not_deferred_back_to_life(queue: SqlQueue) -> None:
    job, _ = queue.create_job(noop_job())
    (item,) = queue.claim(WORKER, 1, LEASE)
    queue.cancel_job(job.id)
    assert not queue.defer(item.task.id, WORKER, {"prediction": "p1"}, 0)
    assert not queue.wake(item.task.id)
    task = queue.task(item.task.id)
    assert task is not None and task.status is TaskStatus.CANCELED
