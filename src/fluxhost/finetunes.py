"""Registering finetunes: an existing LoRA file becomes a finetune owned by one key."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from fluxhost.services import Services
from fluxhost.store.finetunes import create_finetune
from fluxhost.store.models import Finetune

MAX_LORA_BYTES = 2 * 1024**3
_LORA_MARKERS = ("lora_A", "lora_B", "lora_down", "lora_up", "lora.down", "lora.up")


class InvalidLora(ValueError):
    pass


def check_lora_file(path: Path) -> int:
    """Validate a safetensors LoRA by its header alone; return its tensor count."""
    size = path.stat().st_size
    if size > MAX_LORA_BYTES:
        raise InvalidLora(f"{path}: {size} bytes is over the {MAX_LORA_BYTES} byte limit")
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) != 8:
            raise InvalidLora(f"{path}: not a safetensors file (too short)")
        (header_len,) = struct.unpack("<Q", head)
        if header_len > min(size - 8, 100 * 1024 * 1024):
            raise InvalidLora(f"{path}: not a safetensors file (bad header length)")
        try:
            header = json.loads(fh.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidLora(f"{path}: not a safetensors file ({exc})") from exc
    names = [k for k in header if k != "__metadata__"]
    if not any(marker in n for n in names for marker in _LORA_MARKERS):
        raise InvalidLora(f"{path}: no LoRA tensors (lora_A/lora_B or lora_down/lora_up) in it")
    return len(names)


def import_lora(
    svc: Services,
    path: Path,
    *,
    owner_key_id: int,
    comment: str,
    trigger_word: str = "TOK",
) -> Finetune:
    tensors = check_lora_file(path)
    import uuid

    finetune_id = str(uuid.uuid4())
    blob_key = f"finetunes/{finetune_id}.safetensors"
    svc.blobs.put(blob_key, path.read_bytes())
    details = {
        "finetune_comment": comment,
        "trigger_word": trigger_word,
        "mode": "general",
        "finetune_type": "lora",
        "lora_rank": None,
        "iterations": None,
        "learning_rate": None,
        "priority": None,
        "captioning": None,
        "source": "import",
        "tensors": tensors,
    }
    return create_finetune(
        svc.store,
        owner_key_id=owner_key_id,
        comment=comment,
        trigger_word=trigger_word,
        details=details,
        lora_blob=blob_key,
        finetune_id=finetune_id,
    )
