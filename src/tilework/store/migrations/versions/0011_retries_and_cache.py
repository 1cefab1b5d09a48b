"""Retries and the result cache: a job may be the retry of another (and reuse the files its
tasks made), or share the outputs of an equal job's (its cache key); ``object_refs`` counts
who uses files outside their own job's folder, so nothing is deleted while it is used.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("retry_of", sa.String(26)))
        batch.add_column(sa.Column("retried_by", sa.String(26)))
        batch.add_column(sa.Column("reuses", sa.JSON))
        batch.add_column(sa.Column("cache_key", sa.String(64)))
        batch.add_column(sa.Column("cached_from", sa.String(26)))
        batch.add_column(sa.Column("removing_at", sa.Float))
    op.create_index("ix_jobs_tenant_cache", "jobs", ["tenant", "cache_key"])
    op.create_table(
        "object_refs",
        sa.Column(
            "job_id",
            sa.String(26),
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("prefix", sa.String(512), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
    )
    op.create_index("ix_object_refs_tenant_prefix", "object_refs", ["tenant", "prefix"])


def downgrade() -> None:
    op.drop_index("ix_object_refs_tenant_prefix", "object_refs")
    op.drop_table("object_refs")
    op.drop_index("ix_jobs_tenant_cache", "jobs")
    with op.batch_alter_table("jobs") as batch:
        for column in ("removing_at", "cached_from", "cache_key", "reuses", "retried_by"):
            batch.drop_column(column)
        batch.drop_column("retry_of")
