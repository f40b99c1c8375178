"""First-run conveniences for `make serve`: a dev key, and a dev finetune on the dev model set
only (a random LoRA: on any model that draws something, emoji64 included, it spoils the image).

The dev key's plaintext is kept in DATA_DIR/dev-key (mode 0600) so `make serve` can print it
every time; the database still holds only its hash. Delete the file and the key to rotate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fluxhost.services import Services
from fluxhost.store import keys
from fluxhost.store.finetunes import list_finetunes

DEV_KEY_NAME = "dev"
DEV_FINETUNE_COMMENT = "dev-finetune (random LoRA on the dev model: it draws noise)"


@dataclass(frozen=True)
class DevSetup:
    key: str
    finetune_id: str | None


def ensure_dev_setup(svc: Services, with_finetune: bool = True) -> DevSetup:
    key_file = svc.settings.data_dir / "dev-key"
    info = keys.get_key_by_name(svc.store, DEV_KEY_NAME)
    if info is None or info.revoked_at is not None or not key_file.exists():
        if info is not None:
            keys.rename_key(svc.store, DEV_KEY_NAME, f"{DEV_KEY_NAME}-old-{info.id}")
        info, plaintext = keys.create_key(svc.store, DEV_KEY_NAME)
        _write_secret(key_file, plaintext)
    plaintext = key_file.read_text().strip()
    if not with_finetune:
        return DevSetup(plaintext, None)
    for ft in list_finetunes(svc.store, info.id):
        if ft.comment == DEV_FINETUNE_COMMENT:
            return DevSetup(plaintext, ft.id)
    return DevSetup(plaintext, _make_dev_finetune(svc, info.id))


def _make_dev_finetune(svc: Services, key_id: int) -> str:
    from fluxhost.engine.families.flux1.dev import make_dev_lora
    from fluxhost.engine.modelset import resolve_model_set
    from fluxhost.finetunes import import_lora

    base_dir = Path(resolve_model_set(svc.settings)["base"])
    lora_file = svc.settings.data_dir / "models" / "dev-lora.safetensors"
    make_dev_lora(base_dir, lora_file, seed=1234)
    ft = import_lora(svc, lora_file, owner_key_id=key_id, comment=DEV_FINETUNE_COMMENT,
                     trigger_word="TOK")
    return ft.id


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
