"""API keys as values: the secret's shape, its hash, and who holds it.

A secret is ``tw_`` plus 43 URL-safe characters (256 random bits): recognisable in logs and by
secret scanners, never stored; the database keeps its SHA-256 (a slow hash buys nothing for a
secret with that much entropy) and its first characters, to tell keys apart in a listing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

SECRET_PREFIX = "tw_"
SECRET_SHAPE = re.compile(r"^tw_[A-Za-z0-9_-]{43}$")
SHOWN_CHARS = 10
TENANT_SHAPE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")  # fits secret names (64)
DEFAULT_TENANT = "default"


class Role(StrEnum):
    """What a key may do. ``read_only``: read its tenant's jobs, files and queue, change
    nothing; ``operator``: also submit, cancel, retry, upload and delete, in its tenant;
    ``admin``: also manage keys and read every tenant (metrics, the queue, the console's
    tenant filter): the one cross-tenant role."""

    READ_ONLY = "read_only"
    OPERATOR = "operator"
    ADMIN = "admin"


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant: str
    name: str
    role: Role
    prefix: str
    created_at: float
    revoked_at: float | None
    credits: float | None = None  # None: this key's jobs cost nothing
    rate_per_minute: int | None = None  # None: the server's default
    max_queued_jobs: int | None = None

    @property
    def admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def may_change(self) -> bool:
        """Whether it may do more than read."""
        return self.role is not Role.READ_ONLY


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)
