"""Jobs with heartbeats, and which job queued and which job runs each try.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 00:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from runtime.store.types import StateString, UtcDateTime

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_type", sa.String(length=30), nullable=False),
        sa.Column("state", StateString(), nullable=False),
        sa.Column("hostname", sa.String(length=1000), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("executor_class", sa.String(length=500), nullable=True),
        sa.Column("start_date", UtcDateTime(), nullable=False),
        sa.Column("end_date", UtcDateTime(), nullable=True),
        sa.Column("latest_heartbeat", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    op.create_index("idx_job_state_type", "job", ["state", "job_type"], unique=False)
    with op.batch_alter_table("task_instance") as batch:
        batch.add_column(sa.Column("queued_by_job_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("job_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("task_instance") as batch:
        batch.drop_column("job_id")
        batch.drop_column("queued_by_job_id")
    op.drop_index("idx_job_state_type", table_name="job")
    op.drop_table("job")
