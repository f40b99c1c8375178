"""docs/cli.md stays true to the command: every command is on the page, every exit code in
its table, and the page's generate examples name real endpoints and flags."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from fluxhost.cli import app
from fluxhost.cli.errors import ExitCode
from fluxhost.cli.generate import endpoint_command

PAGE = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()


def command_paths(command: Any, prefix: str = "fluxhost") -> list[str]:
    ctx = typer.Context(command)
    subcommands = getattr(command, "list_commands", None)
    if subcommands is None or prefix.endswith(" generate"):
        return [prefix]
    return [path for name in subcommands(ctx)
            for path in command_paths(command.get_command(ctx, name), f"{prefix} {name}")]


def test_every_command_is_documented() -> None:
    paths = command_paths(typer.main.get_command(app))
    assert "fluxhost finetunes create" in paths and "fluxhost generate" in paths
    for path in paths:
        words = path.split()[1:]
        # "fluxhost keys list | keys revoke NAME" documents `keys revoke` too.
        assert path in PAGE or " ".join(words) in PAGE, path


def test_every_exit_code_is_in_the_table() -> None:
    for code in ExitCode:
        assert re.search(rf"^\| {code.value} \| ", PAGE, re.MULTILINE), code


def test_generate_examples_use_real_endpoints_and_flags() -> None:
    examples = re.findall(r"fluxhost generate ([a-z][a-z0-9.-]*)((?:\\\n|[^\n])*)", PAGE)
    assert len(examples) >= 5
    for endpoint, rest in examples:
        command = endpoint_command(endpoint)
        known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
        used = set(re.findall(r"(?<![\w-])(--[a-z0-9-]+)", rest))
        assert used <= known, (endpoint, used - known)
