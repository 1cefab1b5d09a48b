"""Output destinations: a tenant's own buckets (credentials sealed), and where each job
delivers its outputs.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("delivery", sa.JSON))
    op.create_table(
        "destinations",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("bucket", sa.String(255), nullable=False),
        sa.Column("prefix", sa.String(512), nullable=False),
        sa.Column("path_template", sa.String(512), nullable=False),
        sa.Column("endpoint", sa.String(512)),
        sa.Column("region", sa.String(64)),
        sa.Column("public", sa.Boolean, nullable=False),
        sa.Column("public_url", sa.String(512)),
        sa.Column("render_projects", sa.JSON, nullable=False),
        sa.Column("credentials", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("destinations")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("delivery")
