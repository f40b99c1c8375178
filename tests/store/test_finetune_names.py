"""Finetune names (migration 0004): unique per key among live finetunes, resolved per key,
freed by delete; and 0004 over a 0003 database with a FLUX.1 finetune in it."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from fluxhost.store import Store
from fluxhost.store.finetunes import (
    NameTaken,
    create_finetune,
    delete_finetune,
    find_owned_finetune,
    get_owned_finetune,
)
from fluxhost.store.keys import create_key
from tests.store.test_claim_kinds import bare_engine, upgrade  # noqa: F401 (fixture)


def lora(store: Store, key_id: int, name: str | None, base: str | None = "klein-4b") -> str:
    return create_finetune(store, owner_key_id=key_id, comment="", trigger_word="TOK",
                           details={}, lora_blob="b", name=name, base_model=base).id


def test_a_name_is_per_key_and_resolves_only_for_its_key(store: Store) -> None:
    a = create_key(store, "a")[0].id
    b = create_key(store, "b")[0].id
    ida, idb = lora(store, a, "style"), lora(store, b, "style")
    assert ida != idb
    found = find_owned_finetune(store, "style", a)
    assert found is not None and found.id == ida and found.base_model == "klein-4b"
    assert find_owned_finetune(store, ida, a) is not None
    assert find_owned_finetune(store, ida, b) is None  # another key's id
    found_b = find_owned_finetune(store, "style", b)
    assert found_b is not None and found_b.id == idb
    assert find_owned_finetune(store, "other", a) is None


def test_a_taken_name_is_refused_and_delete_frees_it(store: Store) -> None:
    a = create_key(store, "a")[0].id
    b = create_key(store, "b")[0].id
    first = lora(store, a, "style")
    with pytest.raises(NameTaken, match="'style'"):
        lora(store, a, "style")
    lora(store, a, None), lora(store, a, None)  # unnamed finetunes never collide
    assert not delete_finetune(store, "style", b)  # another key's name: not found
    assert delete_finetune(store, "style", a)  # by name
    assert get_owned_finetune(store, first, a) is None
    again = lora(store, a, "style")
    assert again != first
    assert delete_finetune(store, again, a)  # by id


def test_migration_0004_upgrades_a_0003_database(bare_engine: Engine) -> None:  # noqa: F811
    upgrade(bare_engine, "0003")
    with bare_engine.begin() as conn:
        conn.execute(text("INSERT INTO api_keys (name, key_hash, prefix, created_at, "
                          "active_tasks) VALUES ('old', 'h', 'p', 1.0, 0)"))
        key_id = conn.execute(text("SELECT id FROM api_keys WHERE name = 'old'")).scalar()
        conn.execute(text(
            "INSERT INTO finetunes (id, owner_key_id, status, comment, trigger_word, details,"
            " lora_blob, created_at) VALUES ('ft-1', :k, 'Ready', 'c', 'TOK', '{}', 'x', 1.0)"),
            {"k": key_id})
    upgrade(bare_engine, "head")
    migrated = Store(bare_engine)
    old = get_owned_finetune(migrated, "ft-1", key_id)
    assert old is not None and (old.name, old.base_model) == (None, None)
    lora(migrated, key_id, "style")
    with pytest.raises(NameTaken):
        lora(migrated, key_id, "style")
