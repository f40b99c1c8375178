"""The finetune cache and the pipeline memory budget: a resident adapter is activated without
reading its file again; a forgotten (deleted) one must be loaded again; pipelines beyond the
budget are unloaded least recently used first, keeping the shared components."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image
from tests.engine.conftest import MakeRequest, MakeSettings

from fluxhost.engine import Engine, Fill, InvalidLora, LoraSpec
from fluxhost.settings import Settings


def test_resident_adapter_is_not_read_again(engine_settings: Settings, dev_set: dict[str, Path],
                                            lora_file: Path, tmp_path: Path,
                                            make_request: MakeRequest) -> None:
    engine = Engine(engine_settings)
    copy = tmp_path / "ft.safetensors"
    shutil.copy(lora_file, copy)
    lora = LoraSpec(key="ft-resident", path=copy, strength=1.0)
    first = engine.run(make_request(seed=1, lora=lora))
    copy.unlink()  # from now on, any read of the file would fail
    again = engine.run(make_request(seed=1, lora=lora))
    assert list(first.getdata()) == list(again.getdata())

    engine.forget_lora("ft-resident")  # its finetune was deleted: evicted everywhere
    with pytest.raises(InvalidLora, match="does not exist"):
        engine.run(make_request(seed=1, lora=lora))


def test_memory_budget_unloads_least_recently_used(make_engine_settings: MakeSettings,
                                                   engine_settings: Settings,
                                                   dev_set: dict[str, Path]) -> None:
    settings = make_engine_settings(engine_settings.data_dir, max_loaded_pipelines=2)
    engine = Engine(settings)
    engine.load("base")
    shared = engine.shared_components()
    engine.load("fill")
    engine.load("base")  # base is now the most recently used
    engine.load("canny")
    assert engine.loaded_kinds() == {"base", "canny"}  # fill went
    assert engine.shared_components() == shared  # text encoders and VAE stay
    image = Image.new("RGB", (64, 64), (9, 9, 9))
    out = engine.run(Fill(prompt="p", image=image, mask=Image.new("L", (64, 64), 255),
                           width=64, height=64, steps=2, guidance=30, seed=0))
    assert out.size == (64, 64)  # reloaded on demand
    assert engine.loaded_kinds() == {"canny", "fill"}


def test_byte_budget_unloads_least_recently_used(make_engine_settings: MakeSettings,
                                                 engine_settings: Settings,
                                                 dev_set: dict[str, Path]) -> None:
    probe = Engine(make_engine_settings(engine_settings.data_dir))
    one = sum(p.numel() * p.element_size() for p in probe.load("base").transformer.parameters())
    # Room for two dev transformers (fill's is a little wider than base's), not three.
    budget_mb = (3 * one) / (1024 * 1024) * 0.9
    engine = Engine(make_engine_settings(engine_settings.data_dir,
                                         pipeline_memory_budget_mb=max(1, int(budget_mb))))
    if budget_mb < 1:  # the dev transformer is tiny; the budget is in MiB
        pytest.skip("dev transformer too small for a MiB budget")
    engine.load("base")
    engine.load("fill")
    engine.load("canny")
    assert "base" not in engine.loaded_kinds() and "canny" in engine.loaded_kinds()
