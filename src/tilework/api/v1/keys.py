"""/v1/keys: create, list and revoke API keys (admin keys only); any key can read itself."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tilework.api.dependencies import Admin, AppServices, Caller
from tilework.api.v1.bodies import iso
from tilework.core.errors import ErrorCode, TileworkError, field_failures
from tilework.core.keys import TENANT_SHAPE, ApiKey, Role
from tilework.service.services import Services
from tilework.store.credits import ledger

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(pattern=TENANT_SHAPE.pattern, description="Whose jobs the key makes.")
    name: str = Field(min_length=1, max_length=128, description="What the key is for.")
    role: Role | None = Field(
        None,
        description=(
            "read_only: reads its tenant, changes nothing; operator (the default): submits, "
            "cancels, retries, in its tenant; admin: also manages keys and reads every tenant."
        ),
    )
    admin: bool = Field(False, description="The same as role admin (kept for older callers).")
    credits: float | None = Field(
        None, ge=0, description="A credit balance its jobs spend; null means free."
    )
    rate_per_minute: int | None = Field(None, ge=1, description="Null: the server's default.")
    max_queued_jobs: int | None = Field(None, ge=1, description="Null: the server's default.")


class KeyBody(BaseModel):
    id: str
    tenant: str
    name: str
    role: Role
    admin: bool
    prefix: str = Field(description="The secret's first characters, to tell keys apart.")
    credits: float | None
    rate_per_minute: int | None
    max_queued_jobs: int | None
    created_at: str
    revoked_at: str | None


class CreatedKey(KeyBody):
    key: str = Field(description="The secret: shown this once, never stored.")


class KeyList(BaseModel):
    items: list[KeyBody]


def key_body(key: ApiKey) -> KeyBody:
    return KeyBody(
        id=key.id,
        tenant=key.tenant,
        name=key.name,
        role=key.role,
        admin=key.admin,
        prefix=key.prefix,
        credits=key.credits,
        rate_per_minute=key.rate_per_minute,
        max_queued_jobs=key.max_queued_jobs,
        created_at=iso(key.created_at) or "",
        revoked_at=iso(key.revoked_at),
    )


@router.post("", status_code=201, response_model=CreatedKey)
def create_key(body: KeyCreate, services: AppServices, _: Admin) -> CreatedKey:
    if body.admin and body.role not in (None, Role.ADMIN):
        raise field_failures([(("role",), "contradicts admin: true (which is role admin)")])
    role = Role.ADMIN if body.admin else body.role or Role.OPERATOR
    key, secret = services.keys.create(
        body.tenant,
        body.name,
        role=role,
        credits=body.credits,
        rate_per_minute=body.rate_per_minute,
        max_queued_jobs=body.max_queued_jobs,
    )
    return CreatedKey(**key_body(key).model_dump(), key=secret)


@router.get("", response_model=KeyList)
def list_keys(services: AppServices, _: Admin) -> KeyList:
    return KeyList(items=[key_body(key) for key in services.keys.list()])


@router.get("/current", response_model=KeyBody)
def current_key(services: AppServices, key: Caller) -> KeyBody:
    """The calling key, with its balance as it is now."""
    return key_body(services.keys.get(key.id) or key)


class LedgerEntry(BaseModel):
    kind: str = Field(description="grant, reserve (at submit), release (at the end), charge.")
    amount: float = Field(description="What the balance moved by.")
    balance: float = Field(description="The balance after it.")
    job_id: str | None
    at: str
    detail: dict[str, Any] | None = Field(
        None, description="What a charge was for, beyond megapixels: provider, model, units."
    )


class Ledger(BaseModel):
    key_id: str
    credits: float | None
    items: list[LedgerEntry] = Field(description="Newest first.")


@router.get("/current/ledger", response_model=Ledger)
def current_ledger(services: AppServices, key: Caller) -> Ledger:
    """The calling key's credit movements."""
    return _ledger(services, key.id)


@router.get("/{key_id}/ledger", response_model=Ledger)
def key_ledger(key_id: str, services: AppServices, _: Admin) -> Ledger:
    return _ledger(services, key_id)


def _ledger(services: Services, key_id: str) -> Ledger:
    key = services.keys.get(key_id)
    if key is None:
        raise TileworkError(ErrorCode.NOT_FOUND, f"no key {key_id}", {"id": key_id})
    items = [
        LedgerEntry(
            kind=row["kind"],
            amount=row["amount"],
            balance=row["balance"],
            job_id=row["job_id"],
            at=iso(row["created_at"]) or "",
            detail=row.get("detail"),
        )
        for row in ledger(services.database, key_id)
    ]
    return Ledger(key_id=key_id, credits=key.credits, items=items)


@router.post("/{key_id}/revoke", response_model=KeyBody)
def revoke_key(key_id: str, services: AppServices, _: Admin) -> KeyBody:
    revoked = services.keys.revoke(key_id)
    if revoked is None:
        raise TileworkError(ErrorCode.NOT_FOUND, f"no key {key_id}", {"id": key_id})
    services.authenticator.forget(key_id)
    return key_body(revoked)
