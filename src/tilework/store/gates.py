"""Each provider's limits, shared by every host through the database: at most N requests in
flight, at most M creates a minute, and a cooldown after a 429 that makes every host wait.

Taking a slot is one write transaction that locks the provider's gate row, so two hosts never
both take the last one. A slot is a row per task; a task that is no longer open (it ended, it
was canceled, its job failed) gives its slot back the next time anyone takes one, so a host
that died holding slots leaks none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from tilework.core.jobs import TaskStatus
from tilework.store.database import Database
from tilework.store.schema import provider_gates, provider_slots, tasks

WINDOW_SECONDS = 60.0
OPEN_TASK = (TaskStatus.QUEUED.value, TaskStatus.RUNNING.value)


@dataclass(frozen=True)
class Wait:
    """Not now: try again after ``seconds``; ``reason`` says which limit."""

    seconds: float
    reason: str


def take_slot(
    database: Database,
    provider: str,
    task_id: int,
    *,
    max_in_flight: int | None = None,
    creates_per_minute: int | None = None,
    now: float | None = None,
) -> Wait | None:
    """A slot on ``provider`` for ``task_id`` (None: taken, or already held), or how long to
    wait: its cooldown, its requests in flight (``max_in_flight``), its creates this minute
    (``creates_per_minute``); None for a limit: no limit."""
    now = time.time() if now is None else now
    _ensure_gate(database, provider)
    with database.write() as conn:
        gate = conn.execute(
            sa.select(provider_gates)
            .where(provider_gates.c.name == provider)
            .with_for_update()  # hosts taking slots on one provider take turns
        ).one()
        if gate.cooldown_until > now:
            return Wait(gate.cooldown_until - now, "cooldown")
        # Slots of tasks that are no longer open go back first: nothing else returns them
        # when a host dies holding one.
        conn.execute(
            provider_slots.delete().where(
                provider_slots.c.provider == provider,
                provider_slots.c.task_id.not_in(
                    sa.select(tasks.c.id).where(tasks.c.status.in_(OPEN_TASK))
                ),
            )
        )
        held = conn.execute(
            sa.select(provider_slots.c.task_id).where(provider_slots.c.task_id == task_id)
        ).first()
        if held is not None:
            return None
        in_flight = conn.execute(
            sa.select(sa.func.count()).where(provider_slots.c.provider == provider)
        ).scalar_one()
        if max_in_flight is not None and in_flight >= max_in_flight:
            return Wait(1.0, "in_flight")
        window_start, creates = gate.window_start, gate.window_creates
        if now - window_start >= WINDOW_SECONDS:
            window_start, creates = now, 0
        if creates_per_minute is not None and creates >= creates_per_minute:
            return Wait(window_start + WINDOW_SECONDS - now, "creates_per_minute")
        conn.execute(
            provider_gates.update()
            .where(provider_gates.c.name == provider)
            .values(window_start=window_start, window_creates=creates + 1)
        )
        conn.execute(
            provider_slots.insert().values(task_id=task_id, provider=provider, taken_at=now)
        )
    return None


def give_back(database: Database, task_id: int) -> None:
    """The task's request ended: its slot is free."""
    with database.write() as conn:
        conn.execute(provider_slots.delete().where(provider_slots.c.task_id == task_id))


def cool_down(database: Database, provider: str, seconds: float, now: float | None = None) -> None:
    """Every host waits ``seconds`` before its next create on ``provider`` (a longer cooldown
    already there stands)."""
    now = time.time() if now is None else now
    _ensure_gate(database, provider)
    with database.write() as conn:
        conn.execute(
            provider_gates.update()
            .where(
                provider_gates.c.name == provider, provider_gates.c.cooldown_until < now + seconds
            )
            .values(cooldown_until=now + seconds)
        )


def _ensure_gate(database: Database, provider: str) -> None:
    query = sa.select(provider_gates.c.name).where(provider_gates.c.name == provider)
    with database.read() as conn:
        if conn.execute(query).first() is not None:
            return
    try:
        with database.write() as conn:
            conn.execute(
                provider_gates.insert().values(
                    name=provider, cooldown_until=0.0, window_start=0.0, window_creates=0
                )
            )
    except sa.exc.IntegrityError:
        pass  # another host made it first
