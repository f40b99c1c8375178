"""Writing a trained LoRA: in the family's format, into a private temporary directory next to the
target, fsynced, then renamed onto it, so readers only ever see a complete file; a stopped or
failed run leaves nothing (a killed process may leave a hidden `.lora-*` directory)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fluxhost.engine.families.protocol import TrainingFamily

LORA_FILE_NAME = "lora.safetensors"


def write_lora(family: TrainingFamily, state: dict[str, Any], out_file: Path) -> Path:
    """Write `state` to `out_file` in the format `family`'s pipeline loads, atomically."""
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".lora-", dir=out_file.parent) as tmp:
        family.save_lora(state, Path(tmp), LORA_FILE_NAME)
        written = Path(tmp) / LORA_FILE_NAME
        # Durable before it becomes visible: after a power loss the name never points at a
        # file whose blocks were not written yet.
        with open(written, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(written, out_file)
    return out_file
