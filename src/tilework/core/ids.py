"""Identifiers that sort by creation time, so "newest first" is an index scan on the id."""

from __future__ import annotations

import os
import socket
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_RANDOM_BITS = 80
_lock = threading.Lock()
_last = 0


def new_id() -> str:
    """A 26-character id: 48 bits of milliseconds then 80 random bits (the ULID layout).

    Ids made by one process in the same millisecond count up from the first one's random part,
    so they still sort in the order they were made (jobs are submitted many per millisecond).
    """
    global _last
    fresh = (int(time.time() * 1000) << _RANDOM_BITS) | int.from_bytes(os.urandom(10), "big")
    with _lock:
        same_millisecond = fresh >> _RANDOM_BITS == _last >> _RANDOM_BITS
        value = _last + 1 if same_millisecond and fresh <= _last else fresh
        _last = value
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def holder_id(role: str) -> str:
    """Who holds a lease: this host and process, and ``role`` within it (a worker's index,
    ``webhooks``), as the rows' ``worker_id`` shows it."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}"


def id_time(identifier: str) -> float:
    """When an id of ``new_id`` was made, in Unix seconds (its first 48 bits)."""
    value = 0
    for char in identifier.lower():
        value = value * 32 + _ALPHABET.index(char)
    return (value >> _RANDOM_BITS) / 1000
