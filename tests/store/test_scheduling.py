"""Claims under limits, on both databases, with holders of different hosts: a per-host limit
counts only the claiming host's running tasks; a global one counts every host's. Fair share
between tenants, seen in one claim's batch."""

from __future__ import annotations

from dataclasses import replace

from tilework.core.jobs import NewJob
from tilework.ops.registry import Registry
from tilework.queue import QueuePolicy
from tilework.queue.sql import SqlQueue
from tilework.store.database import Database

LEASE = 30.0


def sleeps(queue: SqlQueue, count: int, tenant: str = "default") -> None:
    for _ in range(count):
        new = NewJob("test_sleep", {"seconds": 0}, {"key": "uploads/x"}, ["run"], tenant=tenant)
        queue.create_job(new)


def test_a_per_host_limit_counts_that_hosts_tasks_alone(
    database: Database, registry: Registry
) -> None:
    policy = QueuePolicy(operation_limits_per_host={"test_sleep": 1})
    queue = SqlQueue(database, registry, policy)
    sleeps(queue, 4)
    assert len(queue.claim("gpu-a:10:0", 3, LEASE)) == 1  # one, however large the batch
    assert queue.claim("gpu-a:11:0", 3, LEASE) == []  # another process of the same host
    assert len(queue.claim("gpu-b:20:0", 3, LEASE)) == 1  # another host has its own room
    # A global limit counts them all.
    both = SqlQueue(database, registry, replace(policy, operation_limits={"test_sleep": 2}))
    assert both.claim("gpu-c:30:0", 3, LEASE) == []


def test_one_claims_batch_is_shared_between_the_tenants_waiting(
    database: Database, registry: Registry
) -> None:
    queue = SqlQueue(database, registry, QueuePolicy())
    sleeps(queue, 10, "big")
    sleeps(queue, 2, "small")
    claimed = queue.claim("host:1:0", 6, LEASE)
    tenants = sorted(claimed_task.tenant for claimed_task in claimed)
    # Each gets its even part of six; the small tenant has two, the big one takes the rest.
    assert tenants == ["big", "big", "big", "big", "small", "small"]
    # Weighted: big runs 4 tasks with weight 4 (1 per weight), small runs 2 with weight 1
    # (2 per weight): one task at a time goes to big, until big runs 8.
    weighted = SqlQueue(database, registry, QueuePolicy(tenant_weights={"big": 4.0}))
    sleeps(queue, 2, "small")
    one_by_one = [weighted.claim(f"host:1:{n}", 1, LEASE)[0].tenant for n in range(2)]
    assert one_by_one == ["big", "big"]
    # Unweighted, the same claim serves small: 2 running against big's 6.
    assert queue.claim("host:1:9", 1, LEASE)[0].tenant == "small"
