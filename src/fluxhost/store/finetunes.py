"""Finetunes: a LoRA owned by one key. Nobody else can use, see or delete it."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import insert, select

from fluxhost.store.models import Finetune
from fluxhost.store.store import Store
from fluxhost.store.tasks import insert_tasks


def create_finetune(
    store: Store,
    *,
    owner_key_id: int,
    comment: str,
    trigger_word: str,
    details: dict[str, Any],
    lora_blob: str | None,
    status: str = "Ready",
    finetune_id: str | None = None,
) -> Finetune:
    row = Finetune(
        id=finetune_id or str(uuid.uuid4()),
        owner_key_id=owner_key_id,
        status=status,
        comment=comment,
        trigger_word=trigger_word,
        details=details,
        lora_blob=lora_blob,
        created_at=time.time(),
    )
    with store.write() as s:
        s.add(row)
    return row


def get_owned_finetune(store: Store, finetune_id: str, owner_key_id: int) -> Finetune | None:
    """The finetune if it exists, is not deleted, and belongs to this key."""
    with store.read() as s:
        row = s.get(Finetune, finetune_id)
    if row is None or row.deleted_at is not None or row.owner_key_id != owner_key_id:
        return None
    return row


def list_finetunes(store: Store, owner_key_id: int) -> list[Finetune]:
    with store.read() as s:
        return list(
            s.scalars(
                select(Finetune)
                .where(Finetune.owner_key_id == owner_key_id, Finetune.deleted_at.is_(None))
                .order_by(Finetune.created_at)
            )
        )


def submit_training(
    store: Store,
    *,
    finetune_id: str,
    owner_key_id: int,
    comment: str,
    trigger_word: str,
    details: dict[str, Any],
    task: dict[str, Any],
    active_limit: int,
) -> None:
    """The finetune (status Pending) and its training task (id = finetune id), in one
    transaction: neither exists without the other. TooManyActiveTasks when over the limit."""
    row = {
        "id": finetune_id,
        "owner_key_id": owner_key_id,
        "status": "Pending",
        "comment": comment,
        "trigger_word": trigger_word,
        "details": details,
        "lora_blob": None,
        "created_at": time.time(),
        "deleted_at": None,
    }
    with store.write_core() as conn:
        refused = insert_tasks(conn, store.is_postgres, [(task, active_limit)])[0]
        if refused is not None:
            raise refused
        conn.execute(insert(Finetune.__table__), row)  # type: ignore[arg-type]


def delete_finetune(store: Store, finetune_id: str, owner_key_id: int) -> bool:
    """Mark the finetune deleted and cancel its training if that is still running. False when
    it is unknown, deleted already, or another key's."""
    from fluxhost.store.queue import cancel

    with store.write() as s:
        row = s.get(Finetune, finetune_id)
        if row is None or row.deleted_at is not None or row.owner_key_id != owner_key_id:
            return False
        row.deleted_at = time.time()
    cancel(store, finetune_id, "the finetune was deleted during training")
    return True
