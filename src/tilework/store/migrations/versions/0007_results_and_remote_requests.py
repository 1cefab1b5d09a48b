"""A job's result (a hosted model's JSON), the remote request it waits on, what a ledger
row's charge was for, and each provider's shared limits.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("result", sa.JSON))
        batch.add_column(sa.Column("remote", sa.JSON))
    with op.batch_alter_table("credit_ledger") as batch:
        batch.add_column(sa.Column("detail", sa.JSON))
    op.create_table(
        "provider_gates",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("cooldown_until", sa.Float, nullable=False),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("window_creates", sa.Integer, nullable=False),
    )
    op.create_table(
        "provider_slots",
        sa.Column(
            "task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
        ),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("taken_at", sa.Float, nullable=False),
    )
    op.create_index("ix_provider_slots_provider", "provider_slots", ["provider"])


def downgrade() -> None:
    op.drop_index("ix_provider_slots_provider", "provider_slots")
    op.drop_table("provider_slots")
    op.drop_table("provider_gates")
    with op.batch_alter_table("credit_ledger") as batch:
        batch.drop_column("detail")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("remote")
        batch.drop_column("result")
