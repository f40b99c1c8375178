from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from fluxhost.engine import DEV_MODEL_WARNING, Engine
from fluxhost.engine.devmodels import (
    DEV_KINDS,
    MARKER_NAME,
    _install,
    ensure_dev_model_set,
    is_complete,
)
from fluxhost.engine.families.flux1.dev import make_dev_lora
from fluxhost.kinds import DEPTH_ESTIMATOR_KEY as DEPTH_ESTIMATOR
from fluxhost.settings import Settings


def _weights(root: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {str(f.relative_to(root)): load_file(f) for f in sorted(root.rglob("*.safetensors"))}


def _configs(root: Path) -> dict[str, str]:
    return {str(f.relative_to(root)): f.read_text() for f in sorted(root.rglob("*.json"))}


PIPELINE_CLASSES = {
    "base": "FluxPipeline",
    "fill": "FluxFillPipeline",
    "canny": "FluxControlPipeline",
    "depth": "FluxControlPipeline",
    "redux": "FluxPriorReduxPipeline",
    "flux2-dev": "Flux2Pipeline",
    "klein-4b": "Flux2KleinPipeline",
    "klein-9b": "Flux2KleinPipeline",
    "klein-9b-kv": "Flux2KleinKVPipeline",
}


def test_layout(dev_set: dict[str, Path]) -> None:
    assert {"base", "fill", "canny", "depth", "kontext", "redux",
            "flux2-dev", "klein-4b", "klein-9b", "klein-9b-kv"} == DEV_KINDS
    assert set(dev_set) == DEV_KINDS | {DEPTH_ESTIMATOR}
    for kind, class_name in PIPELINE_CLASSES.items():
        index = json.loads((dev_set[kind] / "model_index.json").read_text())
        assert index["_class_name"] == class_name
    # Like FLUX.1-Redux-dev: no text encoders of its own.
    redux = json.loads((dev_set["redux"] / "model_index.json").read_text())
    assert redux["text_encoder"] == [None, None] and redux["text_encoder_2"] == [None, None]
    assert (dev_set[DEPTH_ESTIMATOR] / "config.json").is_file()
    base = dev_set["base"]
    assert is_complete(base.parent)
    # No temporary build directories left next to the set.
    assert [p.name for p in base.parent.parent.iterdir()] == [base.parent.name]


def test_build_is_deterministic(
    dev_set: dict[str, Path],
    tmp_path: Path,
    make_engine_settings: Callable[..., Settings],
    generate: Callable[..., np.ndarray],
    base_pixels: np.ndarray,
) -> None:
    again = ensure_dev_model_set(tmp_path / "dev")
    root, root_again = dev_set["base"].parent, again["base"].parent
    first, second = _weights(root), _weights(root_again)
    assert first.keys() == second.keys()
    assert {name.split("/")[0] for name in first} == set(dev_set)
    for name, tensors in first.items():
        assert tensors.keys() == second[name].keys()
        for key, tensor in tensors.items():
            assert tensor.equal(second[name][key]), f"{name}:{key} differs between builds"
    assert _configs(root) == _configs(root_again)

    # The rebuilt set, loaded as a configured local model, draws the very same image.
    other = Engine(make_engine_settings(tmp_path / "data", models={"base": str(again["base"])}))
    assert np.array_equal(generate(seed=0, eng=other), base_pixels)


def test_reuses_a_complete_set(dev_set: dict[str, Path]) -> None:
    marker = dev_set["base"].parent / MARKER_NAME
    before = marker.stat().st_mtime_ns
    assert ensure_dev_model_set(dev_set["base"].parent) == dev_set
    assert marker.stat().st_mtime_ns == before


def test_replaces_a_partial_set(tmp_path: Path) -> None:
    root = tmp_path / "dev"
    (root / "base").mkdir(parents=True)
    (root / "base" / "junk").write_text("left by a crash")
    paths = ensure_dev_model_set(root)
    assert is_complete(root)
    assert not (paths["base"] / "junk").exists()
    assert (paths["base"] / "model_index.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev"]


def test_warning_is_plain() -> None:
    text = DEV_MODEL_WARNING.lower()
    assert "random weights" in text and "noise" in text


def test_dev_lora_is_deterministic_and_loads(dev_set: dict[str, Path], tmp_path: Path) -> None:
    from diffusers import FluxPipeline

    a = make_dev_lora(dev_set["base"], tmp_path / "a.safetensors", seed=3)
    b = make_dev_lora(dev_set["base"], tmp_path / "sub" / "b.safetensors", seed=3)
    wa, wb = load_file(a), load_file(b)
    assert wa.keys() == wb.keys() and all(wa[k].equal(wb[k]) for k in wa)
    assert all(k.startswith("transformer.") for k in wa)
    assert any("lora_B" in k and wa[k].abs().sum() > 0 for k in wa)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.safetensors", "b.safetensors", "sub"]

    pipe = FluxPipeline.from_pretrained(dev_set["base"], local_files_only=True)
    pipe.load_lora_weights(str(a), adapter_name="dev")
    assert pipe.get_list_adapters() == {"transformer": ["dev"]}


@pytest.mark.parametrize("rank", [2, 8])
def test_dev_lora_rank(dev_set: dict[str, Path], tmp_path: Path, rank: int) -> None:
    out = make_dev_lora(dev_set["base"], tmp_path / "r.safetensors", rank=rank)
    a_weights = [t for k, t in load_file(out).items() if "lora_A" in k]
    assert a_weights and all(t.shape[0] == rank for t in a_weights)


def test_concurrent_builders_agree(tmp_path: Path) -> None:
    root = tmp_path / "dev"
    results: list[dict[str, Path]] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            results.append(ensure_dev_model_set(root))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == [{name: root / name for name in DEV_KINDS | {DEPTH_ESTIMATOR}}] * 3
    assert is_complete(root)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev"]


def test_losing_a_cross_process_race_keeps_the_winner(
    dev_set: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "dev"
    ensure_dev_model_set(root)
    marker = (root / MARKER_NAME).stat().st_mtime_ns
    loser = tmp_path / "loser"
    loser.mkdir()
    (loser / MARKER_NAME).write_text("{}")
    _install(loser, root)  # as if another process finished first
    assert is_complete(root) and (root / MARKER_NAME).stat().st_mtime_ns == marker
    assert loser.exists()  # the caller removes its own temporary directory


def test_cleans_up_after_killed_builders(tmp_path: Path) -> None:
    old = tmp_path / ".dev.building-abc"
    (old / "base").mkdir(parents=True)
    os.utime(old, (0, 0))
    recent = tmp_path / ".dev.building-def"  # possibly another process, still building
    recent.mkdir()
    ensure_dev_model_set(tmp_path / "dev")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".dev.building-def", "dev"]


def test_kinds_share_text_encoders_and_vae(dev_set: dict[str, Path]) -> None:
    """The engine loads these once for all kinds, so the set must hold the same weights."""
    shared = ("text_encoder", "text_encoder_2", "vae")
    for kind in ("fill", "canny", "depth"):
        for component in shared:
            ours, base = _weights(dev_set[kind] / component), _weights(dev_set["base"] / component)
            assert ours.keys() == base.keys()
            for name, tensors in ours.items():
                assert all(t.equal(base[name][k]) for k, t in tensors.items()), (kind, component)
        # The transformers differ: their own seeds, and x_embedder's input width.
        x = load_file(dev_set[kind] / "transformer" / "diffusion_pytorch_model.safetensors")
        assert x["x_embedder.weight"].shape[1] == {"fill": 384, "canny": 128, "depth": 128}[kind]


def test_dev_lora_targets(dev_set: dict[str, Path], tmp_path: Path) -> None:
    default = load_file(make_dev_lora(dev_set["base"], tmp_path / "d.safetensors"))
    assert not any("x_embedder" in k for k in default)
    wide = make_dev_lora(dev_set["base"], tmp_path / "x.safetensors", target_modules=["x_embedder"])
    assert sorted(load_file(wide)) == [
        "transformer.x_embedder.lora_A.weight",
        "transformer.x_embedder.lora_B.weight",
    ]
