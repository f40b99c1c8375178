"""Finetunes: a LoRA owned by one key. Nobody else can use, see or delete it."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from fluxhost.store.models import Finetune
from fluxhost.store.store import Store
from fluxhost.store.tasks import insert_tasks, rejection


class NameTaken(ValueError):
    """The key already has a live finetune of this name (the unique index refused it)."""


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
    name: str | None = None,
    base_model: str | None = None,
) -> Finetune:
    """NameTaken when `name` is already one of this key's live finetunes."""
    row = Finetune(
        id=finetune_id or str(uuid.uuid4()),
        owner_key_id=owner_key_id,
        status=status,
        comment=comment,
        trigger_word=trigger_word,
        details=details,
        lora_blob=lora_blob,
        created_at=time.time(),
        name=name,
        base_model=base_model,
    )
    try:
        with store.write() as s:
            s.add(row)
    except IntegrityError as exc:
        if name is None:
            raise
        raise NameTaken(f"this key already has a finetune named {name!r}") from exc
    return row


def get_owned_finetune(store: Store, finetune_id: str, owner_key_id: int) -> Finetune | None:
    """The finetune if it exists, is not deleted, and belongs to this key."""
    with store.read() as s:
        row = s.get(Finetune, finetune_id)
    if row is None or row.deleted_at is not None or row.owner_key_id != owner_key_id:
        return None
    return row


def find_owned_finetune(store: Store, ref: str, owner_key_id: int) -> Finetune | None:
    """The key's live finetune whose id or name is `ref`; None for anything else, another
    key's included (a name is per key: the same name under two keys is two finetunes)."""
    row = get_owned_finetune(store, ref, owner_key_id)
    if row is not None:
        return row
    with store.read() as s:
        return s.scalars(
            select(Finetune).where(Finetune.owner_key_id == owner_key_id,
                                   Finetune.name == ref, Finetune.deleted_at.is_(None))
        ).first()


@dataclass(frozen=True)
class NamedCount:
    count: int  # the key's live named finetunes (uploaded LoRAs)
    taken: bool  # whether `name` is one of them


def count_named_finetunes(store: Store, owner_key_id: int, name: str) -> NamedCount:
    """For an upload's limits: how many named finetunes the key holds, and whether `name` is
    taken (the unique index decides at insert; this answers before the file is read)."""
    live = (Finetune.owner_key_id == owner_key_id, Finetune.deleted_at.is_(None),
            Finetune.name.is_not(None))
    with store.read() as s:
        count = s.scalar(select(func.count()).select_from(Finetune).where(*live)) or 0
        taken = s.scalar(select(Finetune.id).where(*live, Finetune.name == name)) is not None
    return NamedCount(int(count), taken)


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
    wait: float | None = None,
    base_model: str | None = None,
) -> None:
    """The finetune (status Pending; `base_model` None for FLUX.1, else the klein kind it is
    trained on) and its training task (id = finetune id), in one
    transaction: neither exists without the other. TooManyActiveTasks when over the limit;
    `wait` bounds the wait for the write lock (`WriteBusy` past it) as in `Store.write`;
    `SubmissionRejected` when the database refuses the rows."""
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
        "base_model": base_model,
    }
    try:
        with store.write_core(wait=wait) as conn:
            refused = insert_tasks(conn, store.is_postgres, [(task, active_limit)])[0]
            if refused is not None:
                raise refused
            conn.execute(insert(Finetune.__table__), row)  # type: ignore[arg-type]
    except Exception as exc:
        rejected = rejection(exc)
        if rejected is None:
            raise
        raise rejected from exc


def delete_finetune(
    store: Store, finetune_id: str, owner_key_id: int, *, wait: float | None = None
) -> bool:
    """Mark the finetune (by id, or by its per-key name) deleted and cancel its training if
    that is still running, in one transaction (a bounded write either does both or nothing).
    False when it is unknown, deleted already, or another key's. `wait` as in `Store.write`
    (`WriteBusy` past it)."""
    from fluxhost.store.queue import cancel_in

    with store.write(wait=wait) as s:
        row = s.get(Finetune, finetune_id)
        if row is None or row.owner_key_id != owner_key_id:
            # An uploaded LoRA is also known by its per-key name.
            row = s.scalars(select(Finetune).where(
                Finetune.owner_key_id == owner_key_id, Finetune.name == finetune_id,
                Finetune.deleted_at.is_(None))).first()
        if row is None or row.deleted_at is not None or row.owner_key_id != owner_key_id:
            return False
        finetune_id = row.id
        row.deleted_at = time.time()
        # The name is free again: the unique (key, name) index holds live names only.
        row.name = None
        # The training task has the finetune's id; a worker running it stops at its next
        # heartbeat (its lease is gone).
        cancel_in(s, finetune_id, "the finetune was deleted during training", store.now())
    return True
