"""Retention: counters that survive the rows they count, the sweeper's lease, when a
succeeded job's intermediate files were removed, uploads with their expiry and the jobs that
name them; an audit log of deletions asked for.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("cleaned_at", sa.Float))
    op.create_index("ix_jobs_completed_at", "jobs", ["completed_at"])
    op.create_table(
        "counters",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("labels", sa.String(255), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
    )
    op.create_table(
        "duty_leases",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("worker_id", sa.String(128)),
        sa.Column("lease_until", sa.Float),
        sa.Column("next_run_at", sa.Float, nullable=False),
    )

    op.create_table(
        "uploads",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_uploads_expires_at", "uploads", ["expires_at"])
    op.create_table(
        "job_uploads",
        sa.Column(
            "job_id",
            sa.String(26),
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
    )
    op.create_index("ix_job_uploads_tenant_key", "job_uploads", ["tenant", "key"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_index("ix_job_uploads_tenant_key", "job_uploads")
    op.drop_table("job_uploads")
    op.drop_index("ix_uploads_expires_at", "uploads")
    op.drop_table("uploads")
    op.drop_table("duty_leases")
    op.drop_table("counters")
    op.drop_index("ix_jobs_completed_at", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("cleaned_at")
