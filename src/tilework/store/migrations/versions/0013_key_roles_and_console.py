"""Roles on keys (``core.keys.Role``: read_only, operator, admin) in place of the admin flag.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("role", sa.String(16), nullable=False, server_default="operator")
        )
    op.execute("UPDATE api_keys SET role = 'admin' WHERE admin")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("admin")
        batch.alter_column("role", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.false()))
    op.execute("UPDATE api_keys SET admin = (role = 'admin')")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("role")
        batch.alter_column("admin", server_default=None)
