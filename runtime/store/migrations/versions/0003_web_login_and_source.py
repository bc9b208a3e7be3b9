"""Web server: redeemed one-time login tokens, DAG source stored at parse time.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 00:05:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from runtime.store.types import UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
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
    with op.batch_alter_table("dag_file") as batch:
        batch.add_column(sa.Column("source_code", sa.Text(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("dag_file") as batch:
        batch.drop_column("source_code")
    op.drop_table("login_token_use")
