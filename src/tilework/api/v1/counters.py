"""Totals that only go up, kept in the database for every host (admin keys only): jobs
failed by code, jobs and files deleted by retention and on request."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from tilework.api.dependencies import Admin, AppServices
from tilework.api.v1 import schemas
from tilework.store.counters import totals

router = APIRouter(prefix="/v1/counters", tags=["operators"])


@router.get("", response_model=schemas.CounterList)
async def list_counters(services: AppServices, _: Admin) -> schemas.CounterList:
    found = await run_in_threadpool(totals, services.database)
    return schemas.CounterList(
        items=[
            schemas.CounterBody(name=each.name, labels=each.labels, value=each.value)
            for each in found
        ]
    )
