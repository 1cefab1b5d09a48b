"""What operators use, with admin keys only: counters that only go up (jobs failed by code,
jobs and files deleted), the queue per tenant, the worker hosts, the audit log of deletions
asked for, and a tenant's purge."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from tilework.api.dependencies import Admin, AppServices
from tilework.api.v1 import schemas
from tilework.api.v1.bodies import iso
from tilework.service.removals import purge_tenant
from tilework.store.audit import audited
from tilework.store.counters import totals
from tilework.store.workers import listed

router = APIRouter(prefix="/v1", tags=["operators"])
Tenant = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


@router.get("/counters", response_model=schemas.CounterList)
async def list_counters(services: AppServices, _: Admin) -> schemas.CounterList:
    found = await run_in_threadpool(totals, services.database)
    return schemas.CounterList(
        items=[
            schemas.CounterBody(name=each.name, labels=each.labels, value=each.value)
            for each in found
        ]
    )


@router.get("/queue", response_model=schemas.QueueView)
async def queue_view(services: AppServices, _: Admin) -> schemas.QueueView:
    """Each tenant with open work: its tasks waiting and running, and how long its oldest
    waiting task has waited (what fair share and the limits act on)."""
    found = await run_in_threadpool(services.queue.tenant_queues)
    now = time.time()
    return schemas.QueueView(
        tenants=[
            schemas.TenantQueueBody(
                tenant=each.tenant,
                queued=each.queued,
                running=each.running,
                oldest_queued_at=iso(each.oldest_queued_at),
                oldest_wait_seconds=None
                if each.oldest_queued_at is None
                else round(max(0.0, now - each.oldest_queued_at), 3),
            )
            for each in found
        ]
    )


@router.get("/workers", response_model=schemas.WorkerList)
async def workers(services: AppServices, _: Admin) -> schemas.WorkerList:
    """Every worker host alive, and those gone within a day: its version, device, worker
    threads, when it started, its last heartbeat and the tasks it runs."""
    found = await run_in_threadpool(listed, services.database)
    now = time.time()
    return schemas.WorkerList(
        items=[
            schemas.WorkerHostBody(
                id=host.id,
                host=host.host,
                pid=host.pid,
                version=host.version,
                device=host.device,
                workers=host.workers,
                state="alive" if host.alive(now) else "gone",
                started_at=iso(host.started_at) or "",
                heartbeat_at=iso(host.heartbeat_at) or "",
                stopped_at=iso(host.stopped_at),
                tasks_running=host.tasks_running if host.alive(now) else 0,
            )
            for host in found
        ]
    )


@router.get("/audit", response_model=schemas.AuditList)
async def audit_log(services: AppServices, _: Admin) -> schemas.AuditList:
    """Deletions asked for, newest first: jobs deleted, tenants purged, by whose key."""
    found = await run_in_threadpool(audited, services.database)
    return schemas.AuditList(
        items=[
            schemas.AuditEntry(
                at=str(iso(entry["at"])),
                key_id=entry["key_id"],
                tenant=entry["tenant"],
                action=entry["action"],
                target=entry["target"],
                detail=entry["detail"],
            )
            for entry in found
        ]
    )


@router.post("/tenants/{tenant}/purge", response_model=schemas.Purged)
async def purge(tenant: Tenant, services: AppServices, key: Admin) -> schemas.Purged:
    """Everything of a tenant's goes now: its open jobs are canceled (their remote requests
    too), its jobs deleted with their files, its uploads deleted. Its keys stay (revoke them
    with ``/v1/keys/{id}/revoke``). Recorded in the audit log."""
    purged = await run_in_threadpool(purge_tenant, services, key, tenant)
    return schemas.Purged(**purged)
