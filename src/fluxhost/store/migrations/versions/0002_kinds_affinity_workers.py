"""task kind and finetune (claim by kind, adapter affinity), worker registry

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the endpoint -> kind mapping at this revision (a migration must not follow
# later edits of the code's mapping).
_KINDS = {
    "flux-pro-finetuned": "base",
    "flux-pro-1.1-ultra-finetuned": "base",
    "flux-pro-1.0-fill-finetuned": "fill",
    "flux-pro-1.0-canny-finetuned": "canny",
    "flux-pro-1.0-depth-finetuned": "depth",
    "finetune": "training",
}


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("finetune_id", sa.String(length=36), nullable=True))
        batch_op.create_index(
            "ix_tasks_kind_claim", ["state", "kind", "created_at"], unique=False
        )
    _backfill()
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("kinds", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workers_last_seen"), ["last_seen"], unique=False)


def _backfill() -> None:
    """Every row gets its kind from its endpoint (one UPDATE per endpoint); active rows also
    get their finetune id from params, read in Python (JSON access differs per dialect)."""
    tasks = sa.table(
        "tasks",
        sa.column("id", sa.String),
        sa.column("endpoint", sa.String),
        sa.column("params", sa.JSON),
        sa.column("state", sa.String),
        sa.column("kind", sa.String),
        sa.column("finetune_id", sa.String),
    )
    bind = op.get_bind()
    for endpoint, kind in _KINDS.items():
        bind.execute(sa.update(tasks).where(tasks.c.endpoint == endpoint).values(kind=kind))
    active = bind.execute(
        sa.select(tasks.c.id, tasks.c.params).where(
            tasks.c.state.in_(("queued", "running")), tasks.c.endpoint != "finetune"
        )
    ).all()
    for row in active:
        finetune_id = (row.params or {}).get("finetune_id")
        if isinstance(finetune_id, str) and len(finetune_id) <= 36:
            bind.execute(
                sa.update(tasks).where(tasks.c.id == row.id).values(finetune_id=finetune_id)
            )


def downgrade() -> None:
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workers_last_seen"))
    op.drop_table("workers")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_kind_claim")
        batch_op.drop_column("finetune_id")
        batch_op.drop_column("kind")
