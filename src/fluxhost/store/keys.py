"""API keys, stored only as sha256 hashes."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select

from fluxhost.store.models import ApiKey
from fluxhost.store.store import Store

KEY_PREFIX = "fh_"


class KeyError_(Exception):
    """A key operation named a key that does not exist or already exists."""


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    prefix: str
    created_at: float
    revoked_at: float | None


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.prefix, row.created_at, row.revoked_at)


def create_key(store: Store, name: str, plaintext: str | None = None) -> tuple[KeyInfo, str]:
    """Create a key; the plaintext is returned once and never stored."""
    if not name or len(name) > 200:
        raise KeyError_(f"key name must be 1..200 characters, got {name!r}")
    plaintext = plaintext or KEY_PREFIX + secrets.token_urlsafe(32)
    with store.write() as s:
        if s.scalar(select(ApiKey).where(ApiKey.name == name)) is not None:
            raise KeyError_(f"a key named {name!r} already exists")
        row = ApiKey(
            name=name,
            key_hash=hash_key(plaintext),
            prefix=plaintext[:8],
            created_at=time.time(),
        )
        s.add(row)
        s.flush()
        return _info(row), plaintext


def list_keys(store: Store) -> list[KeyInfo]:
    with store.read() as s:
        return [_info(r) for r in s.scalars(select(ApiKey).order_by(ApiKey.id))]


def get_key_by_name(store: Store, name: str) -> KeyInfo | None:
    with store.read() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.name == name))
        return _info(row) if row else None


def revoke_key(store: Store, name: str) -> KeyInfo:
    with store.write() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.name == name))
        if row is None:
            raise KeyError_(f"no key named {name!r}")
        if row.revoked_at is None:
            row.revoked_at = time.time()
        return _info(row)


def authenticate(store: Store, plaintext: str) -> KeyInfo | None:
    """The active key for this plaintext, or None."""
    with store.read() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plaintext)))
        if row is None or row.revoked_at is not None:
            return None
        return _info(row)


def rename_key(store: Store, name: str, new_name: str) -> None:
    with store.write() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.name == name))
        if row is None:
            raise KeyError_(f"no key named {name!r}")
        row.name = new_name
        if row.revoked_at is None:
            row.revoked_at = time.time()
