"""The queue on SQLite and PostgreSQL (``store.dialect`` holds what differs between them)."""

from tilework.queue.sql.queue import SqlQueue

__all__ = ["SqlQueue"]
