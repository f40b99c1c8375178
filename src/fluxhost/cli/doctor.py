"""`fluxhost doctor`: before anything is downloaded, whether the configured kinds fit this
machine in their modes (the memory plan, from configs), and whether each mode can run here."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

import typer

from fluxhost.cli.config import load_settings
from fluxhost.cli.errors import CliError, ExitCode
from fluxhost.cli.extras import imports_of, require

if TYPE_CHECKING:
    from fluxhost.settings import Settings

# What --device takes (as FLUXHOST_DEVICE): auto, cpu, mps, cuda, cuda:N.
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d{1,2})?")
DEVICE_HELP = "the device: cpu, cuda, cuda:N, ... (default: $FLUXHOST_DEVICE or auto)"


def with_device(settings: Settings, device: str | None) -> Settings:
    """`settings` on `device` (a --device flag), checked: a bad one is a usage error."""
    if device is None:
        return settings
    if not DEVICE.fullmatch(device):
        raise CliError(f"--device: {device!r} is not a device; use cpu, cuda, cuda:N, mps "
                       "or auto", ExitCode.USAGE)
    return settings.model_copy(update={"device": device})


def doctor(
    device: Annotated[str | None, typer.Option(help=DEVICE_HELP)] = None,
) -> None:
    """Say whether the configured models fit this machine in their memory modes (from their
    configs: nothing is downloaded), what to change if not, and whether every configured
    mode can run here. Exit 0: fits and runs; 1: it does not."""
    settings = with_device(load_settings("doctor"), device)
    require("doctor", "engine")
    with imports_of("doctor"):
        from fluxhost.engine.memory.report import report
        from fluxhost.engine.startup import refusals

        lines, fits = report(settings)
        problems = refusals(settings)
    if settings.uses_dev_models:
        lines.insert(0, "dev model set: tiny random weights; set FLUXHOST_MODELS for real ones")
    lines += [f"cannot run here: {why}" for why in problems] or \
        ["modes: every configured mode can run here"]
    typer.echo("\n".join(lines))
    if problems or not fits:
        raise typer.Exit(ExitCode.ERROR)
