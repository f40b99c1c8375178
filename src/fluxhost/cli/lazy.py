"""Command groups whose heavier subcommands are built only when named.

Flags generated from the wire models need those models imported (pydantic, a few hundred
milliseconds); `fluxhost --version` or `fluxhost keys list` should not pay for them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from typer.core import TyperGroup


class LazyGroup(TyperGroup):
    """A group with `lazy` subcommands: name -> a function building the click command."""

    lazy: ClassVar[dict[str, Callable[[], Any]]] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *self.lazy]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        build = self.lazy.get(cmd_name)
        return build() if build is not None else super().get_command(ctx, cmd_name)
