"""Metrics and workers: histograms kept as bucket counts (every host's observations in one
place, never falling when rows they observed are deleted), ended jobs folded into them once
(``jobs.observed``), a row per worker host kept alive by its heartbeat; a job's
``traceparent`` carried to the workers.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.create_table(
        "histogram_buckets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("labels", sa.String(255), primary_key=True),
        sa.Column("le", sa.String(16), primary_key=True),
        sa.Column("count", sa.Float, nullable=False),
        sa.Column("sum", sa.Float, nullable=False),
    )
    op.create_table(
        "worker_hosts",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("worker_id", sa.String(128), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("device", sa.String(16), nullable=False),
        sa.Column("workers", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
        sa.Column("stopped_at", sa.Float),
        sa.Column("tasks_running", sa.Integer, nullable=False),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(64)))
        batch.add_column(
            sa.Column("observed", sa.Boolean, nullable=False, server_default=sa.false())
        )
    # Jobs that ended before this version are not folded into the histograms: they are
    # marked observed, and the histograms start empty.
    op.execute("UPDATE jobs SET observed = TRUE WHERE completed_at IS NOT NULL")
    op.create_index("ix_jobs_observed_completed", "jobs", ["observed", "completed_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_observed_completed", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("observed")
        batch.drop_column("traceparent")
    op.drop_table("worker_hosts")
    op.drop_table("histogram_buckets")
