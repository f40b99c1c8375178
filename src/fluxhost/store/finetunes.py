"""Finetunes: a LoRA owned by one key. Nobody else can use, see or delete it."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import select

from fluxhost.store.models import Finetune
from fluxhost.store.store import Store


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
