"""`fluxhost finetunes upload FILE --name N --base klein-4b`: bring a FLUX.2 [klein] LoRA over
HTTP (the server's extension route; the SDK's upload_finetune). Needs only the SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fluxhost.cli.connection import BaseUrlOption, KeyOption, connect, target
from fluxhost.cli.errors import CliError, ExitCode
from fluxhost.cli.output import print_json


def finetunes_upload(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="the LoRA, a .safetensors file "
                                         "(diffusers, peft, AI-Toolkit or kohya/ComfyUI keys)")],
    name: Annotated[str, typer.Option("--name", help="its name: lowercase letters, digits, - "
                                      "and _ (the finetune_id requests send)")],
    base: Annotated[str, typer.Option("--base", help="the klein base it was trained on: "
                                      "klein-4b or klein-9b")],
    trigger_word: Annotated[str | None, typer.Option(
        "--trigger-word", help="the phrase that invokes it, kept in its details")] = None,
    key: KeyOption = None,
    base_url: BaseUrlOption = None,
) -> None:
    """Upload a FLUX.2 [klein] LoRA under a name; print the server's answer as JSON. Then:
    fluxhost generate flux-2-klein-4b-finetuned --finetune-id NAME --prompt ..."""
    where = target(base_url, key).require_key()
    if not file.is_file():
        raise CliError(f"{file}: no such file", ExitCode.USAGE)
    with connect(where) as client:
        answer = client.upload_finetune(file, name=name, base=base, trigger_word=trigger_word)
    print_json(answer.model_dump(mode="json"))
