"""API keys, tenants on jobs, and the credit ledger.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("tenant", sa.String(64), nullable=False, server_default="default")
        )
        batch.add_column(sa.Column("key_id", sa.String(32)))
        batch.add_column(sa.Column("cost", sa.Float))
    op.create_index("ix_jobs_tenant_id", "jobs", ["tenant", "id"])
    op.create_index("ix_jobs_key_status", "jobs", ["key_id", "status"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("credits", sa.Float),
        sa.Column("rate_per_minute", sa.Integer),
        sa.Column("max_queued_jobs", sa.Integer),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
    )
    op.create_table(
        "credit_ledger",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column(
            "key_id",
            sa.String(32),
            sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("job_id", sa.String(26)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("balance", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_credit_ledger_key", "credit_ledger", ["key_id", "id"])
    op.create_index("ix_credit_ledger_job", "credit_ledger", ["job_id"])


def downgrade() -> None:
    op.drop_table("credit_ledger")
    op.drop_table("api_keys")
    op.drop_index("ix_jobs_key_status", "jobs")
    op.drop_index("ix_jobs_tenant_id", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("cost")
        batch.drop_column("key_id")
        batch.drop_column("tenant")
