"""The console: roles on keys (``core.keys.Role``: read_only, operator, admin) in place of the
admin flag; jobs' previews; tasks' failed attempts; bulk actions.

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
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("previewed", sa.Boolean, nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("attempt_log", sa.JSON))
    # Jobs that ended before this version get no previews: the console shows none for them.
    op.execute("UPDATE jobs SET previewed = TRUE WHERE completed_at IS NOT NULL")
    op.create_index("ix_jobs_previewed_completed", "jobs", ["previewed", "completed_at"])
    op.create_table(
        "job_previews",
        sa.Column(
            "job_id",
            sa.String(26),
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "bulk_actions",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(64)),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("filter", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("done", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("bulk_actions")
    op.drop_table("job_previews")
    op.drop_index("ix_jobs_previewed_completed", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("previewed")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("attempt_log")
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.false()))
    op.execute("UPDATE api_keys SET admin = (role = 'admin')")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("role")
        batch.alter_column("admin", server_default=None)
