"""The limits a task honours before it sends a provider a request (``store.gates``): taken
through the database its host runs on, so every host counts the same requests.

A task that may not submit yet defers (its attempt is not spent) for as long as the limit
says; a provider's 429 puts it on a cooldown every host waits out.
"""

from __future__ import annotations

from tilework.core.errors import TileworkError
from tilework.core.jobs import JsonDict, TaskDeferred
from tilework.core.settings import Provider, Settings
from tilework.store.database import Database, process_database
from tilework.store.gates import cool_down, give_back, take_slot

# Without a Retry-After, how long every host leaves a provider alone after its 429.
DEFAULT_COOLDOWN_SECONDS = 10.0


def _database(settings: Settings) -> Database:
    return process_database(settings.resolved_database_url)


def hold_slot(
    settings: Settings, name: str, provider: Provider, task_id: int, state: JsonDict
) -> None:
    """Return once the task may submit to ``name``; else defer it for as long as the limit
    (``state`` kept for the next run)."""
    wait = take_slot(
        _database(settings),
        name,
        task_id,
        max_in_flight=provider.max_in_flight,
        creates_per_minute=provider.creates_per_minute,
    )
    if wait is not None:
        raise TaskDeferred(state, max(wait.seconds, 0.1))


def release_slot(settings: Settings, task_id: int) -> None:
    give_back(_database(settings), task_id)


def throttled_by(settings: Settings, name: str, error: TileworkError) -> float | None:
    """For a provider's 429: the cooldown every host now waits (its Retry-After, else ten
    seconds); for a 5xx with Retry-After, that wait for this task alone. None otherwise."""
    wait = error.details.get("retry_after_seconds")
    if error.details.get("status") == 429:
        seconds = float(wait) if wait is not None else DEFAULT_COOLDOWN_SECONDS
        cool_down(_database(settings), name, seconds)
        return seconds
    return float(wait) if error.retryable and wait is not None else None
