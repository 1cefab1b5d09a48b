"""Scheduling: each task carries its job's tenant, operation and rank (its priority negated),
so a claim picks the tenant by fair share and a tenant's own work by priority without reading
jobs; jobs keep their priority and scheduled start.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("run_at", sa.Float))
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(
            sa.Column("tenant", sa.String(64), nullable=False, server_default="default")
        )
        batch.add_column(sa.Column("operation", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("rank", sa.Integer, nullable=False, server_default="0"))
    # Tasks written before: their job's tenant and operation (open ones are the ones that
    # matter; ended ones keep them for the record).
    op.execute(
        "UPDATE tasks SET tenant = (SELECT jobs.tenant FROM jobs WHERE jobs.id = tasks.job_id),"
        " operation = (SELECT jobs.operation FROM jobs WHERE jobs.id = tasks.job_id)"
    )
    op.create_index("ix_tasks_tenant_claim", "tasks", ["status", "tenant", "rank", "id"])
    # Claims no longer take tasks in id order alone: one index less to write at every change
    # of a task's status.
    op.drop_index("ix_tasks_status_id", "tasks")


def downgrade() -> None:
    op.create_index("ix_tasks_status_id", "tasks", ["status", "id"])
    op.drop_index("ix_tasks_tenant_claim", "tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("rank")
        batch.drop_column("operation")
        batch.drop_column("tenant")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("run_at")
        batch.drop_column("priority")
