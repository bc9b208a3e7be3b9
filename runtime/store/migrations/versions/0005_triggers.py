"""Deferral: the trigger table, and what a deferred try waits on and resumes at.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 03:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from runtime.store.types import UtcDateTime

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "trigger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("classpath", sa.String(length=1000), nullable=False),
        sa.Column("kwargs", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_date", UtcDateTime(), nullable=False),
        sa.Column("triggerer_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger")),
    )
    op.create_index("idx_trigger_triggerer_id", "trigger", ["triggerer_id"], unique=False)
    with op.batch_alter_table("task_instance") as batch:
        batch.add_column(sa.Column("trigger_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("trigger_timeout", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("next_method", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("next_kwargs", sa.JSON(none_as_null=True), nullable=True))
    op.create_index("idx_task_instance_trigger_id", "task_instance", ["trigger_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("idx_task_instance_trigger_id", table_name="task_instance")
    with op.batch_alter_table("task_instance") as batch:
        for column in ("next_kwargs", "next_method", "trigger_timeout", "trigger_id"):
            batch.drop_column(column)
    op.drop_index("idx_trigger_triggerer_id", table_name="trigger")
    op.drop_table("trigger")
