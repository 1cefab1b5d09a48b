"""Tasks carry their payload's format; webhook deliveries name the sender that holds them.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        # Every task written before this revision is in format 1.
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("worker_id", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("worker_id")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("version")
