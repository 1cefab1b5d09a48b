"""A provider's limits, shared by every host through the database (``store.gates``): requests
in flight, creates a minute, the cooldown after a 429. Each test's hosts are separate
``Database`` objects on one database, as separate processes would be."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.jobs import LEASE, WORKER, noop_job
from tilework.queue.sql import SqlQueue
from tilework.store.database import Database
from tilework.store.gates import Wait, cool_down, give_back, take_slot

NOW = 1_800_000_000.0


@pytest.fixture
def task_ids(queue: SqlQueue) -> list[int]:
    """Six open tasks, as the tasks that submit to providers are."""
    queue.create_job(noop_job(tasks=6))
    return sorted(item.task.id for item in queue.claim(WORKER, 10, LEASE))


@pytest.fixture
def hosts(database: Database) -> Iterator[list[Database]]:
    others = [Database(database.url) for _ in range(4)]
    try:
        yield others
    finally:
        for host in others:
            host.dispose()


def test_requests_in_flight_are_counted_on_every_host(
    hosts: list[Database], task_ids: list[int], queue: SqlQueue
) -> None:
    limits = {"max_in_flight": 2}
    first, second, third = task_ids[:3]
    assert take_slot(hosts[0], "gpu", first, **limits, now=NOW) is None
    assert take_slot(hosts[1], "gpu", second, **limits, now=NOW) is None
    assert take_slot(hosts[1], "gpu", second, **limits, now=NOW) is None  # held already
    waiting = take_slot(hosts[2], "gpu", third, **limits, now=NOW)
    assert isinstance(waiting, Wait) and waiting.reason == "in_flight"
    assert take_slot(hosts[2], "other", third, **limits, now=NOW) is None  # per provider
    give_back(hosts[0], first)
    assert take_slot(hosts[2], "gpu", third, **limits, now=NOW) is None


def test_a_task_that_ended_gives_its_slot_back_without_being_asked(
    hosts: list[Database], task_ids: list[int], queue: SqlQueue
) -> None:
    """A host that died holding a slot leaks nothing: once its task is no longer open (here
    its job canceled), the slot counts no more."""
    limits = {"max_in_flight": 1}
    assert take_slot(hosts[0], "gpu", task_ids[0], **limits, now=NOW) is None
    assert take_slot(hosts[1], "gpu", task_ids[1], **limits, now=NOW) is not None
    job_id = queue.task(task_ids[0]).job_id  # type: ignore[union-attr]
    queue.cancel_job(job_id)
    queue.create_job(noop_job(tasks=1))
    (fresh,) = queue.claim(WORKER, 1, LEASE)
    assert take_slot(hosts[1], "gpu", fresh.task.id, **limits, now=NOW) is None


def test_creates_a_minute_are_counted_on_every_host(
    hosts: list[Database], task_ids: list[int]
) -> None:
    limits = {"creates_per_minute": 2}
    assert take_slot(hosts[0], "gpu", task_ids[0], **limits, now=NOW) is None
    assert take_slot(hosts[1], "gpu", task_ids[1], **limits, now=NOW + 10) is None
    waiting = take_slot(hosts[2], "gpu", task_ids[2], **limits, now=NOW + 15)
    assert waiting == Wait(45.0, "creates_per_minute")
    assert take_slot(hosts[2], "gpu", task_ids[2], **limits, now=NOW + 60) is None


def test_a_cooldown_set_by_one_host_holds_every_host(
    hosts: list[Database], task_ids: list[int]
) -> None:
    cool_down(hosts[0], "gpu", 30, NOW)
    cool_down(hosts[1], "gpu", 5, NOW)  # a shorter one does not cut it short
    waiting = take_slot(hosts[2], "gpu", task_ids[0], now=NOW + 10)
    assert waiting == Wait(20.0, "cooldown")
    assert take_slot(hosts[3], "gpu", task_ids[0], now=NOW + 30) is None


def test_hosts_racing_for_the_last_slots_take_exactly_the_limit(
    hosts: list[Database], task_ids: list[int]
) -> None:
    limits = {"max_in_flight": 3}
    with ThreadPoolExecutor(4) as pool:
        taken = list(
            pool.map(
                lambda pair: take_slot(hosts[pair[0] % 4], "gpu", pair[1], **limits, now=NOW),
                enumerate(task_ids),
            )
        )
    assert sum(1 for answer in taken if answer is None) == 3
