"""finetunes: a per-key name (an uploaded LoRA's finetune_id) and the base model it fits

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-15
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows keep NULL in both: FLUX.1 finetunes known by their uuid, as before.
    # batch_alter_table as 0001-0002 do: SQLite drops columns (downgrade) only by copying.
    with op.batch_alter_table("finetunes") as batch:
        batch.add_column(sa.Column("name", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("base_model", sa.String(length=64), nullable=True))
    op.create_index("ux_finetunes_owner_name", "finetunes", ["owner_key_id", "name"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("ux_finetunes_owner_name", table_name="finetunes")
    with op.batch_alter_table("finetunes") as batch:
        batch.drop_column("base_model")
        batch.drop_column("name")
