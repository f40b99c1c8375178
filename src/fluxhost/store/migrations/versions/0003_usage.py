"""per-key usage by day and endpoint (images, megapixels, engine seconds, cost)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Starts empty: tasks finished before this revision are not counted (their figures were
    # never recorded, and the retention janitor may already have deleted them).
    op.create_table(
        "usage",
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("input_mp", sa.Float(), nullable=False),
        sa.Column("output_mp", sa.Float(), nullable=False),
        sa.Column("engine_seconds", sa.Float(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"]),
        sa.PrimaryKeyConstraint("key_id", "day", "endpoint"),
    )


def downgrade() -> None:
    op.drop_table("usage")
