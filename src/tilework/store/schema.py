"""The tables. Migrations under ``migrations/versions`` create exactly this; a test checks it."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Integer on SQLite so the id is the rowid (autoincrement), 64-bit elsewhere.
TaskId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("operation", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("input", sa.JSON, nullable=False),
    sa.Column("stages", sa.JSON, nullable=False),
    sa.Column("stage", sa.Integer, nullable=False),
    # Fan-in counter: tasks of the current stage not yet succeeded. The transaction that takes it
    # to zero is the one that plans the next stage.
    sa.Column("stage_tasks", sa.Integer, nullable=False),
    sa.Column("stage_remaining", sa.Integer, nullable=False),
    sa.Column("tasks_done", sa.Integer, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("outputs", sa.JSON, nullable=False),
    sa.Column("warnings", sa.JSON, nullable=False),
    sa.Column("timings", sa.JSON, nullable=False),
    sa.Column("error_code", sa.String(64)),
    sa.Column("error_message", sa.Text),
    sa.Column("idempotency_key", sa.String(255), unique=True),
    sa.Column("request_hash", sa.String(64)),
    sa.Column("created_at", sa.Float, nullable=False),  # unix seconds
    sa.Column("started_at", sa.Float),
    sa.Column("completed_at", sa.Float),
    # Where the job's events are sent: {"url", "events", "format"}; null means nowhere.
    sa.Column("webhook", sa.JSON),
    # When the last progress event was recorded: progress events are throttled per job.
    sa.Column("progress_at", sa.Float),
    # Whose job it is: every read through the API is filtered by the caller's tenant.
    sa.Column("tenant", sa.String(64), nullable=False, server_default="default"),
    # The API key that submitted it (its credits and queued-jobs limit); null before keys.
    sa.Column("key_id", sa.String(32)),
    sa.Column("cost", sa.Float),  # credits reserved at submit; null: the job was free
    # When a queued or running job is canceled (Replicate's Cancel-After); null: never.
    sa.Column("deadline", sa.Float),
    # A hosted model's JSON answer, its files replaced by references to the job's outputs.
    sa.Column("result", sa.JSON),
    # The request on a provider a task of the job waits on: {provider, model, request_id}.
    sa.Column("remote", sa.JSON),
    # When the sweeper removed a succeeded job's intermediate files (tiles, stage images);
    # null: not yet, or the job did not succeed (those keep theirs until the job goes).
    sa.Column("cleaned_at", sa.Float),
    # Where its outputs are delivered: {"destination": name, "vars": {...}}; null: kept here.
    sa.Column("delivery", sa.JSON),
    # Orders the tenant's own work: higher first (-10 to 10).
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("run_at", sa.Float),  # not claimed before (unix seconds); null: at once
    # A retry is a new job: the failed or canceled one it retries, and on that one, its retry.
    sa.Column("retry_of", sa.String(26)),
    sa.Column("retried_by", sa.String(26)),
    # The jobs whose folders its tasks read files from when not in its own (a retry's
    # succeeded tasks made them there), nearest first; null: none.
    sa.Column("reuses", sa.JSON),
    # What makes two jobs' outputs equal (``service.caching``); null: never cached.
    sa.Column("cache_key", sa.String(64)),
    # The job whose outputs this one shares, having been answered from the cache.
    sa.Column("cached_from", sa.String(26)),
    # Set when its deletion began: no retry or cache hit may use its files from then on.
    sa.Column("removing_at", sa.Float),
    # The W3C trace context its submit carried: logged with its tasks, sent to providers.
    sa.Column("traceparent", sa.String(64)),
    # Whether its times are in the histograms yet (``store.histograms.fold``): ended jobs are
    # folded in after the fact, so ending a job writes nothing more for its metrics.
    sa.Column("observed", sa.Boolean, nullable=False, server_default=sa.false()),
    # Whether its console previews were made (``worker.previews``), or it ended before them.
    sa.Column("previewed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_jobs_status_id", "status", "id"),
    sa.Index("ix_jobs_tenant_id", "tenant", "id"),
    sa.Index("ix_jobs_key_status", "key_id", "status"),
    sa.Index("ix_jobs_operation_id", "operation", "id"),
    # Open jobs past their deadline, found by the sweep without reading finished ones.
    sa.Index("ix_jobs_status_deadline", "status", "deadline"),
    # Ended jobs past their retention, oldest first, for the retention sweeper.
    sa.Index("ix_jobs_completed_at", "completed_at"),
    # A tenant's jobs by cache key: a cache lookup at submit.
    sa.Index("ix_jobs_tenant_cache", "tenant", "cache_key"),
    # Ended jobs not yet in the histograms, oldest first, for the fold.
    sa.Index("ix_jobs_observed_completed", "observed", "completed_at"),
    sa.Index("ix_jobs_previewed_completed", "previewed", "completed_at"),
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", TaskId, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id", sa.String(26), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("stage", sa.Integer, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("run_after", sa.Float, nullable=False),  # unix seconds; retries wait until then
    sa.Column("lease_until", sa.Float),  # unix seconds; a running task past it is lost
    sa.Column("worker_id", sa.String(128)),
    sa.Column("result", sa.JSON),
    sa.Column("error_code", sa.String(64)),
    sa.Column("error_message", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("completed_at", sa.Float),
    # The task's own limit (an operation's per-stage timeout); null means the workers' limit.
    sa.Column("timeout_seconds", sa.Float),
    # The payload's format (``core.jobs.TASK_FORMAT`` of the host that wrote it): a host claims
    # only what it can read, so during a rolling upgrade newer tasks wait for a newer host.
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    # The job's, copied: a claim chooses the tenant by fair share, that tenant's work by
    # its rank, and honours concurrency limits per tenant and operation, reading tasks alone.
    sa.Column("tenant", sa.String(64), nullable=False, server_default="default"),
    sa.Column("operation", sa.String(64), nullable=False, server_default=""),
    # The job's priority negated: ascending, like the id after it, so one plain index gives
    # a tenant's tasks in the order a claim takes them on both databases.
    sa.Column("rank", sa.Integer, nullable=False, server_default="0"),
    # Its failed attempts, oldest first (``queue.sql.stages``): worker, times, error, what
    # followed. Written on failures only; the attempt that succeeded is the row itself.
    sa.Column("attempt_log", sa.JSON),
    # A tenant's due tasks in the order a claim takes them; also lists the tenants waiting
    # (it replaced the first-come-first-served (status, id)). The lease index finds lost ones.
    sa.Index("ix_tasks_tenant_claim", "status", "tenant", "rank", "id"),
    sa.Index("ix_tasks_status_lease", "status", "lease_until"),
    sa.Index("ix_tasks_job_stage", "job_id", "stage"),
)

# What happened to a job, in order: the log behind the event stream, webhooks and Replicate's
# logs. Each row keeps the job's row as it was then, so a late reader sees that moment.
job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column("id", TaskId, primary_key=True, autoincrement=True),
    sa.Column(
        "job_id", sa.String(26), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("job", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_job_events_job_id", "job_id", "id"),
)

# One webhook message per (event, endpoint); its id is the ``webhook-id`` of every attempt.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "job_id", sa.String(26), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("event_id", TaskId, nullable=False),
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("log", sa.JSON, nullable=False),  # one entry per attempt
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("lease_until", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("completed_at", sa.Float),
    sa.Column("worker_id", sa.String(128)),  # the sender holding the lease
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_job", "job_id", "created_at"),
)

# Secrets every host must agree on and nobody configured, generated once (the webhook secret).
shared_secrets = sa.Table(
    "shared_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

# Endpoints that answered 410 Gone: nothing more is sent to them.
webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("url_sha256", sa.String(64), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("disabled_at", sa.Float, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

# API keys: only a hash of each secret is kept. ``credits`` null means no credit accounting.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),  # the secret's first characters, shown
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("credits", sa.Float),  # the balance not yet reserved or spent
    sa.Column("rate_per_minute", sa.Integer),  # null: the server's default
    sa.Column("max_queued_jobs", sa.Integer),  # null: the server's default
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
    sa.Column("role", sa.String(16), nullable=False),  # core.keys.Role
)

# Every movement of a key's credits: grant, reserve (at submit), charge or release (at the end).
credit_ledger = sa.Table(
    "credit_ledger",
    metadata,
    sa.Column("id", TaskId, primary_key=True, autoincrement=True),
    sa.Column(
        "key_id", sa.String(32), sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("job_id", sa.String(26)),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("amount", sa.Float, nullable=False),  # signed: what the balance moved by
    sa.Column("balance", sa.Float, nullable=False),  # the balance after the movement
    sa.Column("created_at", sa.Float, nullable=False),
    # What a charge was for, when not megapixels: {provider, model, units, predict_seconds}.
    sa.Column("detail", sa.JSON),
    sa.Index("ix_credit_ledger_key", "key_id", "id"),
    sa.Index("ix_credit_ledger_job", "job_id"),
)

# Files uploaded through Replicate's files API: each has its own id, name and metadata; the
# bytes live once per tenant under their content address (``objects.paths.file_key``).
files = sa.Table(
    "files",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),  # time-ordered (core.ids)
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("ix_files_tenant_id", "tenant", "id"),
)

# How many files name each tenant's stored bytes. The row is also the lock that orders a
# create against a delete of the same bytes: the last delete removes the object while holding
# it, and a create counts itself in before it stores the bytes.
file_blobs = sa.Table(
    "file_blobs",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("refs", sa.Integer, nullable=False),
)


# Each provider's shared limits (core.settings.Provider): its cooldown after a 429 and its
# creates in the current minute, one row a provider, locked by whoever submits to it.
provider_gates = sa.Table(
    "provider_gates",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("cooldown_until", sa.Float, nullable=False),  # unix seconds; 0: none
    sa.Column("window_start", sa.Float, nullable=False),
    sa.Column("window_creates", sa.Integer, nullable=False),
)

# A request in flight on a provider, by the task that waits on it: a row while the task is
# open, so the count of a provider's rows is what it has in flight on every host.
provider_slots = sa.Table(
    "provider_slots",
    metadata,
    sa.Column("task_id", TaskId, primary_key=True),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("taken_at", sa.Float, nullable=False),
    sa.Index("ix_provider_slots_provider", "provider"),
)

# Totals that only ever go up (jobs deleted by retention, jobs failed by code, …): each is
# added to in the transaction that does what it counts, and no row is ever deleted, so a count
# survives the rows it counted. ``labels`` is canonical JSON (sorted keys), part of the key.
counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("labels", sa.String(255), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
)

# Work one host at a time does for all (the retention sweep): a row per duty, leased like a
# task (``store.leasing``) and due again ``next_run_at``.
duty_leases = sa.Table(
    "duty_leases",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # the duty's name
    sa.Column("status", sa.String(16), nullable=False),  # idle, or held
    sa.Column("worker_id", sa.String(128)),
    sa.Column("lease_until", sa.Float),
    sa.Column("next_run_at", sa.Float, nullable=False),
)

# Images sent to /v1/uploads (or as data: URIs), once per tenant and content: each expires a
# while after it was last sent, unless a job still names it (``job_uploads``).
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("ix_uploads_expires_at", "expires_at"),
)

# Which uploads a job names (its input, a texture, …): an upload is kept while any job that
# names it is kept. Written with the job, deleted with it.
job_uploads = sa.Table(
    "job_uploads",
    metadata,
    sa.Column(
        "job_id", sa.String(26), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Index("ix_job_uploads_tenant_key", "tenant", "key"),
)

# What admin keys and callers deleted on purpose (a job, a tenant's purge): who, what, when.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", TaskId, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),  # whose key asked
    sa.Column("tenant", sa.String(64), nullable=False),  # whose things went
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
)

# Small images of an ended job for the console (``worker.previews``): its input's and outputs'
# thumbnails, an upscale's comparison crops. A few tens of kilobytes a job, deleted with it.
job_previews = sa.Table(
    "job_previews",
    metadata,
    sa.Column(
        "job_id", sa.String(26), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("media_type", sa.String(32), nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

# The console's bulk actions: cancel or retry everything a filter matched, worked through in
# the background, their progress kept here.
bulk_actions = sa.Table(
    "bulk_actions",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("tenant", sa.String(64)),  # null: every tenant (an admin's)
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("filter", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("done", sa.Integer, nullable=False),
    sa.Column("skipped", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    sa.Column("error", sa.Text),
)

# A tenant's own buckets that jobs deliver outputs to. The credentials are sealed
# (``core.sealing``) with the server's secret key; no answer ever shows them.
destinations = sa.Table(
    "destinations",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("bucket", sa.String(255), nullable=False),
    sa.Column("prefix", sa.String(512), nullable=False),
    sa.Column("path_template", sa.String(512), nullable=False),
    sa.Column("endpoint", sa.String(512)),
    sa.Column("region", sa.String(64)),
    sa.Column("public", sa.Boolean, nullable=False),
    sa.Column("public_url", sa.String(512)),
    sa.Column("render_projects", sa.JSON, nullable=False),
    sa.Column("credentials", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# Files a job uses outside its own folder: another job's outputs it shares (a cache hit), or a
# whole folder ``jobs/<id>/`` whose files it reads (a retry). A job's folder, or a file in it,
# is not deleted while another job names it here; when its last user goes, the files of a job
# already gone go with it.
object_refs = sa.Table(
    "object_refs",
    metadata,
    sa.Column(
        "job_id", sa.String(26), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("prefix", sa.String(512), primary_key=True),  # a key, or a folder ending in /
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Index("ix_object_refs_tenant_prefix", "tenant", "prefix"),
)

# Histograms of ended jobs' times (wait, run, duration, upload): a row per bucket with its
# count and the sum of what fell in it. Each ended job is folded in once (``jobs.observed``),
# by a scrape or the retention sweep, and before its rows are deleted, so they never fall.
# ``le`` is the bucket's upper bound ("+Inf" for the last); ``/metrics`` makes them
# cumulative.
histogram_buckets = sa.Table(
    "histogram_buckets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("labels", sa.String(255), primary_key=True),
    sa.Column("le", sa.String(16), primary_key=True),
    sa.Column("count", sa.Float, nullable=False),
    sa.Column("sum", sa.Float, nullable=False),
)

# Worker hosts (``tilework worker`` processes), each holding a lease on its own row
# (``store.leasing``) and renewing it with its heartbeat: past ``lease_until`` without one, it
# is gone (killed, or its machine lost); ``status`` is ``stopped`` once it stopped on purpose.
worker_hosts = sa.Table(
    "worker_hosts",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),  # host:pid
    sa.Column("status", sa.String(16), nullable=False),  # held, or stopped
    sa.Column("worker_id", sa.String(128), nullable=False),  # the lease's holder: itself
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("device", sa.String(16), nullable=False),
    sa.Column("workers", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
    sa.Column("lease_until", sa.Float, nullable=False),
    sa.Column("stopped_at", sa.Float),  # it stopped on purpose
    sa.Column("tasks_running", sa.Integer, nullable=False),
)
