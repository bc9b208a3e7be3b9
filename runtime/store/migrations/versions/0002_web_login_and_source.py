"""Web server: redeemed one-time login tokens, daemon heartbeats (job), DAG source stored at parse time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 00:05:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from runtime.store.types import UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "login_token_use",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("identity", sa.String(length=500), nullable=False),
        sa.Column("redeemed_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_login_token_use")),
    )
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_type", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("hostname", sa.String(length=500), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("start_date", UtcDateTime(), nullable=False),
        sa.Column("end_date", UtcDateTime(), nullable=True),
        sa.Column("latest_heartbeat", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    op.create_index("idx_job_type_heartbeat", "job", ["job_type", "latest_heartbeat"], unique=False)
    with op.batch_alter_table("dag_file") as batch:
        batch.add_column(sa.Column("source_code", sa.Text(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("dag_file") as batch:
        batch.drop_column("source_code")
    op.drop_index("idx_job_type_heartbeat", table_name="job")
    op.drop_table("job")
    op.drop_table("login_token_use")
