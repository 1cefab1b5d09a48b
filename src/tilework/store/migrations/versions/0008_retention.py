"""Retention: counters that survive the rows they count, the sweeper's lease, and when a
succeeded job's intermediate files were removed.

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


def downgrade() -> None:
    op.drop_table("duty_leases")
    op.drop_table("counters")
    op.drop_index("ix_jobs_completed_at", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("cleaned_at")
