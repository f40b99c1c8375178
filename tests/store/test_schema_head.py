"""schema_head() reads the head revision from the scripts' text instead of importing alembic:
it must give alembic's answer, for this build's migrations and for the layouts alembic writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from fluxhost.store import schema
from fluxhost.store.db import MIGRATIONS_DIR


def alembic_head(migrations: Path) -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    return ScriptDirectory.from_config(cfg).get_current_head()


def test_this_builds_head_is_alembics() -> None:
    assert schema.schema_head() == alembic_head(MIGRATIONS_DIR)


SCRIPT = '''"""{doc}"""
from typing import Union  # noqa: F401

from alembic import op

{revision}
{down}
branch_labels = None


def upgrade() -> None:
    op.execute("SELECT 1")  # revision = "not-this-one"


def downgrade() -> None:
    pass
'''


@pytest.mark.parametrize(("revision", "down"), [
    ('revision: str = "{r}"', 'down_revision: str | None = {d}'),
    ("revision = '{r}'", "down_revision = {d}"),
    ('revision:str="{r}"', 'down_revision:Union[str, None]={d}'),
])
def test_head_matches_alembic_on_other_layouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               revision: str, down: str) -> None:
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    (migrations / "env.py").write_text("")
    (migrations / "script.py.mako").write_text("")
    chain = [("a1b2c3", None), ("d4e5f6", "a1b2c3"), ("0789ab", "d4e5f6")]
    for name, parent in chain:
        d = "None" if parent is None else (f'"{parent}"' if '"' in revision else f"'{parent}'")
        text = SCRIPT.format(doc=f"Revision ID: {name}\nRevises: {parent}",
                             revision=revision.format(r=name), down=down.format(d=d))
        (migrations / "versions" / f"{name}_step.py").write_text(text)
    monkeypatch.setattr("fluxhost.store.db.MIGRATIONS_DIR", migrations)
    schema.schema_head.cache_clear()
    try:
        assert schema.schema_head() == alembic_head(migrations) == "0789ab"
    finally:
        schema.schema_head.cache_clear()


def test_two_heads_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    for name in ("x1", "x2"):
        (versions / f"{name}.py").write_text(f'revision = "{name}"\ndown_revision = None\n')
    monkeypatch.setattr("fluxhost.store.db.MIGRATIONS_DIR", tmp_path / "migrations")
    schema.schema_head.cache_clear()
    try:
        with pytest.raises(schema.SchemaProblem, match=r"2 heads: \['x1', 'x2'\]"):
            schema.schema_head()
    finally:
        schema.schema_head.cache_clear()
