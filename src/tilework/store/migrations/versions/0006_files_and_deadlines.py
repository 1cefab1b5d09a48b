"""Replicate's files (each file a row, its bytes counted per tenant), and job deadlines.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("deadline", sa.Float))
    op.create_index("ix_jobs_status_deadline", "jobs", ["status", "deadline"])
    op.create_table(
        "files",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_files_tenant_id", "files", ["tenant", "id"])
    op.create_table(
        "file_blobs",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("refs", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("file_blobs")
    op.drop_index("ix_files_tenant_id", "files")
    op.drop_table("files")
    op.drop_index("ix_jobs_status_deadline", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("deadline")
