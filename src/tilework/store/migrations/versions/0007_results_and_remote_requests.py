"""A job's result (a hosted model's JSON), the remote request it waits on, and what a ledger
row's charge was for.

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


def downgrade() -> None:
    with op.batch_alter_table("credit_ledger") as batch:
        batch.drop_column("detail")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("remote")
        batch.drop_column("result")
