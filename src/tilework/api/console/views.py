"""What the console's templates show, worked out from records: the job filter from a URL, a
job's stages and timeline, an upscale's tile grid, a palette's swatches, and the filters that
format times and sizes."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import EventType, JobRecord
from tilework.ops.upscale.params import UpscaleParams
from tilework.store.console import JobFilter, TaskView
from tilework.store.events import JobEvent
from tilework.store.workers import WorkerHost

FILTER_FIELDS = tuple(f.name for f in fields(JobFilter))
TIMELINE_EVENTS = 200


def job_filter(
    status: str = "",
    operation: str = "",
    tenant: str = "",
    since: str = "",
    until: str = "",
    error: str = "",
    idempotency_key: str = "",
    text: str = "",
) -> JobFilter:
    """The filter a jobs URL names (each field a query parameter, empty: any)."""
    values = [status, operation, tenant, since, until, error, idempotency_key, text]
    return JobFilter(*(value.strip()[:200] for value in values))


def conditions(filter: JobFilter, tenant: str | None) -> list[Any]:
    """The filter's conditions for a caller held to ``tenant`` (None: an admin)."""
    return filter.conditions(tenant, _when(filter.since, "since"), _when(filter.until, "until"))


def _when(text: str, name: str) -> float | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED,
            f"{name}: not an ISO 8601 time ({text!r}); e.g. 2026-12-06T10:00",
            {"errors": [{"field": name, "message": "not an ISO 8601 time"}]},
        ) from exc
    if moment.tzinfo is None:  # the console's times are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def alive(host: WorkerHost, now: float | None = None) -> bool:
    return host.stopped_at is None and host.lease_until >= (time.time() if now is None else now)


@dataclass(frozen=True)
class StageView:
    index: int
    name: str
    tasks: int
    done: int
    failed: int
    running: int


def stages(job: JobRecord, tasks: list[TaskView]) -> list[StageView]:
    found = []
    for index, name in enumerate(job.stages):
        mine = [task for task in tasks if task.stage == index]
        found.append(
            StageView(
                index,
                name,
                len(mine),
                sum(task.status == "succeeded" for task in mine),
                sum(task.status == "failed" for task in mine),
                sum(task.status == "running" for task in mine),
            )
        )
    return found


@dataclass(frozen=True)
class Moment:
    at: float
    what: str
    detail: str = ""
    level: str = ""  # "", "warn" or "error": how the page marks it


def timeline(job: JobRecord, events: list[JobEvent], tasks: list[TaskView]) -> list[Moment]:
    """Queued, started, each stage's first start, each failed attempt (its worker, a lease
    that expired, what followed), each task's latest attempt, the end: by time."""
    moments = [Moment(job.created_at, "queued", f"{job.operation}, priority {job.priority}")]
    for event in events:
        if event.type is EventType.PROGRESS:
            continue
        level = "error" if event.type is EventType.FAILED else ""
        detail = event.job.error_message or "" if event.type is not EventType.STARTED else ""
        moments.append(Moment(event.created_at, event.type.value, detail, level))
    for stage in range(len(job.stages)):
        starts = [t.started_at for t in tasks if t.stage == stage and t.started_at]
        if starts:
            moments.append(Moment(min(starts), f"stage {stage + 1}: {job.stages[stage]}"))
    for task in tasks:
        name = f"task {task.id} ({task.kind} {task.position})"
        for attempt in task.attempt_log:
            expired = bool(attempt.get("lease_expired"))
            what = "lease expired" if expired else f"attempt {attempt.get('attempt')} failed"
            moments.append(
                Moment(
                    float(attempt.get("ended_at") or 0),
                    f"{name}: {what}",
                    f"worker {attempt.get('worker') or '?'}: {attempt.get('error_code')}: "
                    f"{attempt.get('error')} ({attempt.get('then')})",
                    "warn" if attempt.get("then") != "failed the job" else "error",
                )
            )
        if task.started_at and (task.attempts > 1 or task.status in ("failed", "running")):
            level = "error" if task.status == "failed" else ""
            detail = f"worker {task.worker or '?'}, attempt {task.attempts}"
            if task.error_message and task.status == "failed":
                detail += f": {task.error_code}: {task.error_message}"
            moments.append(Moment(task.started_at, f"{name}: {task.status}", detail, level))
    moments.sort(key=lambda moment: moment.at)
    return moments[:TIMELINE_EVENTS]


@dataclass(frozen=True)
class Cell:
    index: int
    state: str  # queued, running, succeeded, failed, fallback
    title: str


@dataclass(frozen=True)
class Grid:
    columns: int
    cells: list[Cell]


def tile_grid(job: JobRecord, tasks: list[TaskView]) -> Grid | None:
    """An upscale's tiles, in their places, by state; None for a job without tiles."""
    tiles = sorted((t for t in tasks if t.kind == "tile"), key=lambda t: t.payload.get("index", 0))
    if not tiles:
        return None
    columns = _columns(job, tiles)
    cells = []
    for task in tiles:
        state = "fallback" if task.fallback and task.status == "succeeded" else task.status
        title = f"tile {task.payload.get('index')}: {state}"
        if task.attempts > 1:
            title += f", attempt {task.attempts}"
        if task.error_code:
            title += f" ({task.error_code})"
        cells.append(Cell(int(task.payload.get("index", 0)), state, title))
    return Grid(columns, cells)


def _columns(job: JobRecord, tiles: list[TaskView]) -> int:
    """The grid's columns as the upscale laid its tiles out; a square guess otherwise."""
    layout = tiles[0].payload.get("layout") or {}
    if job.operation == "upscale" and layout:
        try:
            grid = UpscaleParams.model_validate(job.params).grid(
                int(layout["width"]), int(layout["height"])
            )
            return max(tile.col for tile in grid.tiles) + 1
        except (KeyError, ValueError, TypeError):
            pass
    return max(1, math.ceil(math.sqrt(len(tiles))))


def swatches(job: JobRecord) -> list[list[str]]:
    """A palette job's palettes, one per output, in order."""
    if job.operation != "palette":
        return []
    palettes = job.params.get("palettes") or []
    return [
        [str(colour) for colour in palette] for palette in palettes if isinstance(palette, list)
    ]


def _time(when: float | None) -> str:
    if when is None:
        return ""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ago(when: float | None) -> str:
    if when is None:
        return ""
    return _seconds(max(0.0, time.time() - when)) + " ago"


def _seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _percent(fraction: float | None) -> str:
    return "–" if fraction is None else f"{fraction * 100:.1f}%"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


FILTERS = {
    "time": _time,
    "ago": _ago,
    "seconds": _seconds,
    "percent": _percent,
    "pretty": _pretty,
}
