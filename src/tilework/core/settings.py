"""All configuration, read once from ``TILEWORK_*`` environment variables (and a ``.env`` file).

Nothing else in tilework reads the environment: every process builds one ``Settings`` and passes
it down.
"""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret_key"
ADMIN_KEY_FILE = "admin_key"  # the embedded server's first admin API key, for the CLI
# Standard Webhooks' schedule: retries after about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h.
WEBHOOK_RETRY_SECONDS = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]


DeploymentName = Annotated[str, StringConstraints(pattern=r"^[\w.-]+/[\w.-]+$")]


class Deployment(BaseModel):
    """A name callers create predictions with (Replicate's deployments): an operation with
    params set in advance, which the prediction's input may override."""

    model_config = ConfigDict(extra="forbid")

    operation: str = Field(description="The registered operation it runs, e.g. upscale.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Params every prediction starts from."
    )


class ProviderKind(StrEnum):
    """Which protocol a provider speaks: Replicate's HTTP API or fal's queue API."""

    REPLICATE = "replicate"
    FAL = "fal"


# Where each kind's public service is, for an entry that names no base_url.
PUBLIC_BASE_URLS = {
    ProviderKind.REPLICATE: "https://api.replicate.com",
    ProviderKind.FAL: "https://queue.fal.run",
}
FAL_JWKS_URL = "https://rest.alpha.fal.ai/.well-known/jwks.json"


class ModelPrice(BaseModel):
    """What a hosted model costs a key that counts credits: per request, plus per second of the
    provider's measured run (Replicate's ``metrics.predict_time``), plus per billable unit
    (fal's ``x-fal-billable-units``)."""

    model_config = ConfigDict(extra="forbid")

    per_request: float = Field(0.0, ge=0)
    per_second: float = Field(0.0, ge=0)
    per_unit: float = Field(0.0, ge=0)


class Provider(BaseModel):
    """A remote service that runs models: Replicate's API or fal's queue (or another tilework
    server speaking either). A job's model stage, or a ``predict`` job, is handed to it."""

    model_config = ConfigDict(extra="forbid")

    kind: ProviderKind = Field(
        ProviderKind.REPLICATE, description="replicate (the default) or fal."
    )
    # Both URLs are filled from kind when an entry leaves them out (_defaults, below).
    base_url: AnyHttpUrl = Field(
        description="Its API root; empty means the kind's public service "
        "(https://api.replicate.com, https://queue.fal.run).",
    )
    token: SecretStr | None = None
    model: str = Field(
        "tilework/upscale",
        pattern=r"^[\w.-]+/[\w.-]+$",
        description="owner/name of the model that upscales one tile.",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="replicate: the whsec_ secret it signs webhooks with; empty means ask it "
        "(GET /v1/webhooks/default/secret).",
    )
    jwks_url: AnyHttpUrl = Field(
        description="fal: where the Ed25519 keys its webhooks are signed with are published; "
        f"empty means fal's ({FAL_JWKS_URL}).",
    )

    max_in_flight: int | None = Field(
        None, ge=1, description="Requests it may have running at once, counted on every host."
    )
    creates_per_minute: int | None = Field(
        None, ge=1, description="Requests it may be sent a minute, counted on every host."
    )
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict,
        description="Credits per model (owner/name as predict names it): "
        '{"fal-ai/flux/dev": {"per_unit": 2}}; a model without one costs 1 credit a request.',
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, values: Any) -> Any:
        if isinstance(values, dict):
            kind = ProviderKind(values.get("kind") or ProviderKind.REPLICATE)
            values = {
                **values,
                "base_url": values.get("base_url") or PUBLIC_BASE_URLS[kind],
                "jwks_url": values.get("jwks_url") or FAL_JWKS_URL,
            }
        return values

    @property
    def host(self) -> str:
        return self.base_url.host or ""

    @property
    def hosts(self) -> list[str]:
        """Every host the operator named for it: its API and (fal) its key document."""
        hosts = [self.host]
        if self.kind is ProviderKind.FAL and self.jwks_url.host not in hosts:
            hosts.append(self.jwks_url.host or "")
        return hosts


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TILEWORK_", env_file=".env", extra="ignore")

    home: Path = Field(
        Path(".tilework"), description="Directory for the embedded database, objects and secrets."
    )
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite under home.")
    database_listen_url: str = Field(
        "",
        description="PostgreSQL URL for LISTEN when database_url is a transaction-mode pooler "
        "(a direct or session-mode URL); empty means database_url.",
    )
    storage_url: str = Field(
        "", description="Object storage URL; empty means a directory under home."
    )
    s3_endpoint: str = Field(
        "", description="S3 endpoint URL for s3:// storage; empty means AWS for the region."
    )
    s3_region: str = Field("", description="S3 region ('auto' for R2); empty means us-east-1.")
    s3_access_key_id: str = Field(
        "", description="S3 access key; empty means the standard AWS credential chain."
    )
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret key.")
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port the API listens on.")
    tls_certfile: Path | None = Field(
        None,
        description="PEM certificate (chain) the API serves HTTPS with, with tls_keyfile; "
        "unset means plain HTTP. fal's Python client speaks HTTPS only.",
    )
    tls_keyfile: Path | None = Field(None, description="PEM private key of tls_certfile.")
    url: str = Field(
        "",
        description="Base URL clients (CLI, SDK) use; empty means http://host:port (https:// "
        "with TLS).",
    )
    public_url: str = Field("", description="Base URL put into signed file URLs; empty means url.")
    api_key: SecretStr | None = Field(
        None,
        description="The API key the CLI sends; empty means the one in home/admin_key, which "
        "the embedded server writes at its first start.",
    )
    rate_limit_per_minute: int = Field(
        600, ge=1, description="Requests per minute per API key (a key may set its own)."
    )
    max_queued_jobs_per_key: int = Field(
        1000,
        ge=1,
        description="Jobs one API key may have waiting or running (a key may set its own).",
    )
    max_request_bytes: int = Field(
        1 << 20,
        ge=1024,
        description="Largest JSON request body, bytes (uploads have their own cap).",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Origins browsers may call the API from, as JSON: ["https://app.example"]; '
        '["*"] allows any.',
    )
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=0,
        description="Workers (threads), each with its own task process.",
    )
    model_threads: int = Field(
        0, ge=0, description="Threads per super-resolution run; 0 means cores / workers."
    )
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda|torch-cpu)$",
        description="Where super-resolution runs: cpu (ncnn in each task process), cuda (PyTorch, "
        "one model process per GPU), auto (cuda when a GPU is visible and torch is installed, "
        "else cpu) or torch-cpu (the cuda path's code on the CPU, for checks).",
    )
    model_socket: str = Field(
        "",
        description="Unix socket of the model process super-resolution runs are sent to; the "
        "worker pool sets it for each task process when it owns GPUs.",
    )
    secret_key: SecretStr | None = Field(
        None, description="HMAC key for signed URLs; generated under home if unset."
    )

    max_queued: int = Field(
        10_000, ge=1, description="Queued tasks above which submits get 503 queue_full."
    )
    max_input_pixels: int = Field(
        100_000_000, ge=1, description="Largest accepted input, in pixels."
    )
    max_input_frames: int = Field(
        1000, ge=1, description="Most frames (GIF, WebP) or pages (TIFF, HEIF) an input may have."
    )
    max_upload_bytes: int = Field(
        200 * 1024 * 1024, ge=1, description="Largest accepted upload or download, in bytes."
    )
    max_output_pixels: int = Field(
        1_000_000_000, ge=1, description="Largest output of any operation, in pixels."
    )
    download_timeout: float = Field(
        30.0, gt=0, description="Total deadline for fetching an input URL, seconds."
    )
    fetch_allow_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts (names, addresses or CIDR networks) that input URLs, webhooks and "
        "provider outputs may reach although they are private, loopback or link-local, as JSON: "
        '["supabase.internal", "10.0.0.0/8"]. Every other such address is ssrf_blocked.',
    )

    task_timeout: float = Field(
        300.0, gt=0, description="Hard limit for one task attempt, seconds."
    )
    task_cpu_seconds: float = Field(
        900.0,
        gt=0,
        description="CPU time one task attempt may use, all its threads together, seconds; "
        "past it the task fails timeout, without a retry.",
    )
    lease_seconds: float = Field(
        30.0, gt=0, description="How long a claim lasts without a heartbeat."
    )
    max_attempts: int = Field(3, ge=1, description="Attempts per task before its job fails.")
    retry_base_seconds: float = Field(
        1.0, ge=0, description="First retry delay; doubles each attempt."
    )
    retry_max_seconds: float = Field(300.0, ge=0, description="Cap on the retry delay.")
    drain_seconds: float = Field(
        30.0, ge=0, description="On SIGTERM, how long running tasks may finish before release."
    )
    claim_batch: int = Field(
        100, ge=1, le=1000, description="Most tasks a worker claims at once (when tasks are quick)."
    )
    poll_max_seconds: float = Field(
        0.5, gt=0, description="Longest an idle worker sleeps between claims."
    )
    signed_url_seconds: int = Field(3600, ge=1, description="Lifetime of signed file URLs.")
    file_seconds: int = Field(
        86400,
        ge=1,
        description="How long a file uploaded through /v1/files (Replicate's files API) can be "
        "read and used as an input, from its upload (its expires_at).",
    )
    upload_seconds: float = Field(
        86400,
        gt=0,
        description="How long an upload (/v1/uploads, or a data: URI) is kept after it was "
        "last sent; past it, it is deleted once no job that names it is kept.",
    )
    retention_seconds: float = Field(
        48 * 3600,
        ge=0,
        description="How long an ended job (its rows, events, deliveries and files under "
        "jobs/<id>/) is kept after it ends; 0 keeps jobs forever.",
    )
    fair_share: bool = Field(
        True,
        description="Claims serve the tenants in turn (fair share, weighted by tenant_weights); "
        "false: first come, first served across tenants (priorities still first). Kept for "
        "measuring what fair share costs (bench/taskqueue.py runs both).",
    )
    tenant_weights: dict[str, float] = Field(
        default_factory=dict,
        description="Fair share between tenants: a claim serves first the tenant with the "
        'fewest running tasks per unit of weight (default 1): {"acme": 2} gives acme twice '
        "the workers of a tenant of weight 1 when both wait.",
    )
    tenant_limits: dict[str, int] = Field(
        default_factory=dict,
        description='At most N tasks of a tenant running at once, across hosts: {"acme": 3}.',
    )
    operation_limits: dict[str, int] = Field(
        default_factory=dict,
        description='At most N tasks of an operation running at once, across hosts: {"render": 1}.',
    )
    operation_limits_per_host: dict[str, int] = Field(
        default_factory=dict,
        description="At most N tasks of an operation running at once on each host (its "
        'worker processes together): {"render": 1} for one GPU per host.',
    )
    tenant_retention_seconds: dict[str, float] = Field(
        default_factory=dict,
        description='Retention per tenant, over retention_seconds: {"acme": 86400}; 0 keeps '
        "that tenant's jobs forever.",
    )
    cache: bool = Field(
        True,
        description="Answer a job of a deterministic operation with the outputs of an equal "
        "succeeded job of the same tenant while that one is retained (a job may say "
        "cache: false).",
    )
    uncached_operations: list[str] = Field(
        default_factory=list,
        description='Operations never answered from the cache: ["render"].',
    )
    sweep_seconds: float = Field(
        60.0,
        gt=0,
        description="How often the retention sweep runs (one host at a time, for all).",
    )
    max_parallel_uploads: int = Field(
        4,
        ge=1,
        description="Outputs a worker host uploads at once, across its task processes; the "
        "others finish their processing meanwhile and wait for a free slot.",
    )
    upload_attempts: int = Field(
        5, ge=1, description="Tries per output upload on transient errors (backoff doubles)."
    )

    metrics_token: SecretStr | None = Field(
        None,
        description="A bearer token that may read /metrics (a Prometheus scraper's), besides "
        "admin keys.",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="whsec_ secret webhooks are signed with; two separated by a space while "
        "rotating (the first is current). Generated once and kept in the database if unset.",
    )
    webhook_retry_seconds: list[float] = Field(
        default_factory=lambda: list(WEBHOOK_RETRY_SECONDS),
        description="Delays between a webhook's attempts (each ±20% at random); one attempt "
        "more than there are delays.",
    )
    webhook_timeout: float = Field(
        10.0, gt=0, description="Deadline for a webhook receiver's answer, seconds."
    )
    providers: dict[str, Provider] = Field(
        default_factory=dict,
        description='Remote providers by name, as JSON: {"name": {"kind": "replicate" or '
        '"fal", "base_url", "token", …}}; a job picks one with its provider param.',
    )
    deployments: dict[DeploymentName, Deployment] = Field(
        default_factory=dict,
        description='Replicate deployments by owner/name, as JSON: {"acme/upscaler": '
        '{"operation": "upscale", "params": {"scale": 4}}}; POST /v1/deployments/acme/upscaler/'
        "predictions runs it.",
    )
    provider_output_max_files: int = Field(
        16,
        ge=1,
        le=1000,
        description="Files a hosted model's output may name; each is copied into storage "
        "(each at most max_upload_bytes).",
    )
    provider_poll_seconds: float = Field(
        10.0,
        gt=0,
        description="How long a tile waits for its provider's webhook before asking itself.",
    )

    plugins: list[str] = Field(
        default_factory=list, description="Extra modules to import operations from."
    )
    log_level: str = Field("info", description="debug, info, warning or error.")
    log_json: bool = Field(False, description="Log JSON lines instead of key=value lines.")

    @cached_property
    def resolved_model_threads(self) -> int:
        if self.model_threads:
            return self.model_threads
        return max(1, (os.cpu_count() or 1) // max(1, self.workers))

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'tilework.db').resolve()}"

    @cached_property
    def resolved_storage_url(self) -> str:
        return self.storage_url or (self.home / "objects").resolve().as_uri()

    @cached_property
    def client_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        scheme = "https" if self.tls_certfile else "http"
        return (self.url or f"{scheme}://{host}:{self.port}").rstrip("/")

    @cached_property
    def resolved_public_url(self) -> str:
        return (self.public_url or self.client_url).rstrip("/")

    def signing_key(self) -> bytes:
        """The HMAC key: from settings, else a random one kept under home so restarts agree."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.home / SECRET_KEY_FILE
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            # O_EXCL: when several processes start at once, exactly one writes the key.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(32))
        key = path.read_text().strip()
        if not key:  # another process created the file and has not written it yet
            raise RuntimeError(f"secret key file {path} is empty")
        return key.encode()

    def client_api_key(self) -> str | None:
        """The key the CLI sends: configured, else the embedded server's admin key file."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        path = self.home / ADMIN_KEY_FILE
        return path.read_text().strip() if path.is_file() else None

    def configured_webhook_secrets(self) -> list[str]:
        """The webhook secrets set here, current first; empty: one generated in the database."""
        if self.webhook_secret is None:
            return []
        return self.webhook_secret.get_secret_value().split()

    def effective(self) -> dict[str, Any]:
        """Every setting with its effective value, secrets masked, for ``tilework config``."""
        values = self.model_dump()
        values["home"] = str(self.home.resolve())
        values["database_url"] = _mask_password(self.resolved_database_url)
        if self.database_listen_url:
            values["database_listen_url"] = _mask_password(self.database_listen_url)
        values["storage_url"] = self.resolved_storage_url
        values["url"] = self.client_url
        values["public_url"] = self.resolved_public_url
        values["s3_secret_access_key"] = "********" if self.s3_secret_access_key else None
        values["secret_key"] = (
            "********" if self.secret_key else f"(generated in {self.home / SECRET_KEY_FILE})"
        )
        values["api_key"] = "********" if self.client_api_key() else None
        values["webhook_secret"] = (
            "********" if self.webhook_secret else "(generated, kept in the database)"
        )
        values["providers"] = {
            name: {
                "kind": p.kind.value,
                "base_url": str(p.base_url),
                "model": p.model,
                "token": "********" if p.token else None,
                "webhook_secret": "********" if p.webhook_secret else None,
                **({"jwks_url": str(p.jwks_url)} if p.kind is ProviderKind.FAL else {}),
            }
            for name, p in self.providers.items()
        }
        return values


def _mask_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
