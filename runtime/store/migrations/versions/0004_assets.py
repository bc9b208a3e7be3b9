"""Asset events, the per-DAG cursor of asset-triggered run creation, and the events of each run.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 00:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from runtime.store.types import UtcDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the asset tables."""
    op.create_table(
        "asset_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uri", sa.String(length=1500), nullable=False),
        sa.Column("name", sa.String(length=1500), nullable=False),
        sa.Column("extra", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("source_alias_name", sa.String(length=1500), nullable=True),
        sa.Column("source_dag_id", sa.String(length=250), nullable=True),
        sa.Column("source_task_id", sa.String(length=250), nullable=True),
        sa.Column("source_run_id", sa.String(length=250), nullable=True),
        sa.Column("source_map_index", sa.Integer(), nullable=False),
        sa.Column("timestamp", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_event")),
    )
    op.create_index("idx_asset_event_uri", "asset_event", ["uri", "id"], unique=False)
    op.create_table(
        "asset_dag_cursor",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dag_id", name=op.f("pk_asset_dag_cursor")),
    )
    op.create_table(
        "dag_run_asset_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dag_run_asset_event")),
    )
    op.create_index("idx_dag_run_asset_event_run", "dag_run_asset_event", ["dag_id", "run_id"], unique=False)


def downgrade() -> None:
    """Drop the asset tables."""
    op.drop_index("idx_dag_run_asset_event_run", table_name="dag_run_asset_event")
    op.drop_table("dag_run_asset_event")
    op.drop_table("asset_dag_cursor")
    op.drop_index("idx_asset_event_uri", table_name="asset_event")
    op.drop_table("asset_event")
