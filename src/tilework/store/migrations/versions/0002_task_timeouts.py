"""A task's own time limit (an operation's per-stage timeout).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("timeout_seconds", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("timeout_seconds")
