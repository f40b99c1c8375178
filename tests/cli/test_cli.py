"""The `fluxhost` command as an operator runs it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fluxhost.store import Store
from fluxhost.store.keys import hash_key
from tests.e2e.harness import run_fluxhost

pytestmark = pytest.mark.service


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUXHOST_")}
    env["FLUXHOST_DATA_DIR"] = str(data)
    return run_fluxhost(list(args), env=env)


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    made = run(tmp_path, "keys", "create", "ops")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("fh_") and len(key) > 40
    assert "shown only this once" in made.stderr

    dup = run(tmp_path, "keys", "create", "ops")
    assert dup.returncode == 1 and "already exists" in dup.stderr

    listed = run(tmp_path, "keys", "list")
    assert "ops" in listed.stdout and "active" in listed.stdout
    assert key not in listed.stdout  # only a prefix is ever shown again

    store = Store.open(f"sqlite:///{tmp_path / 'fluxhost.db'}")
    from sqlalchemy import text

    with store.read() as s:
        assert s.execute(text("SELECT key_hash FROM api_keys")).scalar() == hash_key(key)
    store.dispose()

    assert run(tmp_path, "keys", "revoke", "ops").returncode == 0
    assert "revoked" in run(tmp_path, "keys", "list").stdout
    missing = run(tmp_path, "keys", "revoke", "nobody")
    assert missing.returncode == 1 and "no key named 'nobody'" in missing.stderr


def test_finetunes_import(tmp_path: Path, dev_lora_file: Path) -> None:
    run(tmp_path, "keys", "create", "owner")
    ok = run(tmp_path, "finetunes", "import", str(dev_lora_file), "--owner", "owner",
             "--comment", "mine", "--trigger-word", "SKS")
    assert ok.returncode == 0, ok.stderr
    finetune_id = ok.stdout.strip()
    assert len(finetune_id) == 36

    store = Store.open(f"sqlite:///{tmp_path / 'fluxhost.db'}")
    from fluxhost.store.finetunes import get_owned_finetune
    from fluxhost.store.keys import get_key_by_name

    owner = get_key_by_name(store, "owner")
    assert owner is not None
    ft = get_owned_finetune(store, finetune_id, owner.id)
    assert ft is not None and ft.comment == "mine" and ft.trigger_word == "SKS"
    assert (tmp_path / "blobs" / f"finetunes/{finetune_id}.safetensors").is_file()
    store.dispose()

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    out = run(tmp_path, "finetunes", "import", str(bad), "--owner", "owner")
    assert out.returncode == 1 and "not a safetensors file" in out.stderr
    out = run(tmp_path, "finetunes", "import", str(dev_lora_file), "--owner", "ghost")
    assert out.returncode == 1 and "no active key named 'ghost'" in out.stderr


def test_bad_configuration_is_a_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUXHOST_")}
    env.update(FLUXHOST_DATA_DIR=str(tmp_path), FLUXHOST_PORT="abc")
    out = run_fluxhost(["keys", "list"], env=env, timeout=60)
    assert out.returncode == 2
    assert "invalid configuration: FLUXHOST_PORT" in out.stderr
    assert "Traceback" not in out.stderr


def in_folder(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`fluxhost` run from `cwd` with no FLUXHOST_ settings but `env`: the default data dir,
    `data`, is relative to that folder."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("FLUXHOST_")}
    full.update(env)
    return run_fluxhost(list(args), cwd=cwd, env=full)


@pytest.mark.parametrize("command", [("keys", "list"), ("keys", "create", "ops"), ("usage",),
                                     ("db", "current")])
def test_admin_commands_in_another_folder_create_no_database(tmp_path: Path,
                                                             command: tuple[str, ...]) -> None:
    out = in_folder(tmp_path, *command)
    assert out.returncode == 1 and out.stdout == "", out
    where = tmp_path.resolve() / "data" / "fluxhost.db"
    assert out.stderr.splitlines() == [
        f"error: no fluxhost database at {where} (FLUXHOST_DATA_DIR=data, relative to the "
        "working directory); run from the server's folder, or set FLUXHOST_DATA_DIR or "
        "FLUXHOST_DATABASE_URL (`fluxhost db upgrade` creates a new one)"]
    assert list(tmp_path.iterdir()) == []  # not even the data folder


def test_db_upgrade_creates_it_and_every_command_names_it(tmp_path: Path) -> None:
    where = tmp_path.resolve() / "data" / "fluxhost.db"
    up = in_folder(tmp_path, "db", "upgrade")
    assert up.returncode == 0 and up.stderr.splitlines() == [f"database: {where} (new)"], up
    listed = in_folder(tmp_path, "keys", "list")
    assert listed.returncode == 0 and listed.stderr.splitlines() == [f"database: {where}"]
    relative_url = in_folder(tmp_path.parent, "keys", "list",
                             FLUXHOST_DATABASE_URL=f"sqlite:///{tmp_path.name}/x.db")
    assert relative_url.returncode == 1 and (
        f"no fluxhost database at {tmp_path.resolve() / 'x.db'} (FLUXHOST_DATABASE_URL="
        f"sqlite:///{tmp_path.name}/x.db, relative" in relative_url.stderr)


@pytest.mark.parametrize("command", [(), ("result",), ("generate", "flux-dev"), ("keys", "list")])
def test_help_gives_flags_no_type(tmp_path: Path, command: tuple[str, ...]) -> None:
    # typer printed `--version <bool>`, `--help <bool>`: a type for options that take no value.
    out = in_folder(tmp_path, *command, "--help", COLUMNS="160")
    assert out.returncode == 0, out.stderr
    assert "--help " in out.stdout and "<bool>" not in out.stdout
    if command == ("result",):
        assert "--quiet" in out.stdout and "<str>" in out.stdout  # a value still has its type
