"""FLUX.2 on the dev model set: every built-in kind generates, references reach the pipeline and
condition it, guidance per checkpoint (embedded, true CFG, ignored), component sharing between
checkpoints, LoRAs, progress and interruption, and the dev set's own checkpoints reloaded from
disk as configured models."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fluxhost.engine import Engine, Flux2, Interrupted, LoraSpec, MissingPipeline
from fluxhost.engine.devparts import DevParts
from fluxhost.engine.families.flux2.common import BUILTIN_KINDS
from fluxhost.engine.families.flux2.dev import DEV_BUILDERS, build_transformer_like, make_dev_lora
from fluxhost.settings import Settings

KINDS = tuple(BUILTIN_KINDS)  # flux2-dev, klein-4b, klein-9b, klein-9b-kv
STEPS = 2


def _image(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _request(kind: str, **kw: Any) -> Flux2:
    values: dict[str, Any] = {"prompt": "a cat on a mat", "references": (), "width": 128,
                              "height": 96, "steps": STEPS, "guidance": 4.0, "seed": 7,
                              "kind": kind, **kw}
    return Flux2(**values)


def _pixels(engine: Engine, kind: str, **kw: Any) -> np.ndarray:
    return np.asarray(engine.run(_request(kind, **kw))).astype(np.int16)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_generates_the_requested_size_per_seed(engine: Engine, kind: str) -> None:
    image = engine.run(_request(kind, width=256, height=192))
    assert image.size == (256, 192) and image.mode == "RGB"
    again = np.asarray(engine.run(_request(kind, width=256, height=192)))
    other = np.asarray(engine.run(_request(kind, width=256, height=192, seed=8)))
    assert np.array_equal(np.asarray(image), again)
    assert not np.array_equal(again, other)


@pytest.mark.parametrize("kind", KINDS)
def test_references_condition_the_output_in_order(engine: Engine, kind: str) -> None:
    a, b = _image(96, 64, 0), _image(64, 80, 1)
    none = _pixels(engine, kind)
    one = _pixels(engine, kind, references=(a,))
    assert not np.array_equal(none, one)
    assert np.array_equal(one, _pixels(engine, kind, references=(a,)))
    # Each reference has its own position ids: their order is part of the condition.
    assert not np.array_equal(_pixels(engine, kind, references=(a, b)),
                              _pixels(engine, kind, references=(b, a)))


@pytest.mark.parametrize(("kind", "count"), [("flux2-dev", 8), ("klein-4b", 4),
                                             ("klein-9b-kv", 8)])
def test_every_reference_reaches_the_pipeline(engine: Engine, kind: str, count: int,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = engine.load(kind)
    cls = type(pipe)
    seen: list[Any] = []
    original = cls.__call__

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["image"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__call__", spy)
    references = tuple(_image(64, 64, seed) for seed in range(count))
    engine.run(_request(kind, references=references, steps=1))
    assert len(seen) == 1 and len(seen[0]) == count
    assert all(a is b for a, b in zip(seen[0], references, strict=True))
    engine.run(_request(kind, steps=1))
    assert seen[1] is None  # text to image


def test_references_the_pipeline_would_refuse_are_named_first(engine: Engine) -> None:
    with pytest.raises(ValueError, match="at most 10 reference images, got 11"):
        engine.run(_request("klein-4b", references=tuple(_image(64, 64, 0) for _ in range(11))))
    with pytest.raises(ValueError, match="reference image 2 is 40x100"):
        engine.run(_request("klein-4b", references=(_image(64, 64, 0), _image(40, 100, 1))))
    with pytest.raises(ValueError, match="reference image 1 is 1000x64"):
        engine.run(_request("flux2-dev", references=(_image(1000, 64, 0),)))
    with pytest.raises(ValueError, match="multiple of 16"):
        engine.run(_request("klein-4b", width=120))


def test_guidance_per_checkpoint(engine: Engine) -> None:
    # Distilled [klein] ignores it; the KV pipeline takes none; FLUX.2 [dev] embeds it.
    for kind in ("klein-4b", "klein-9b", "klein-9b-kv"):
        assert np.array_equal(_pixels(engine, kind, guidance=1.0), _pixels(engine, kind,
                                                                          guidance=5.0)), kind
    assert not np.array_equal(_pixels(engine, "flux2-dev", guidance=1.5),
                              _pixels(engine, "flux2-dev", guidance=5.0))


@pytest.fixture(scope="module")
def klein_base(dev_set: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A [klein] 4B Base checkpoint as BFL ships one beside the distilled: the same text encoder,
    tokenizer and VAE, another transformer, is_distilled false."""
    out = tmp_path_factory.mktemp("klein-base") / "klein-base-4b"
    shutil.copytree(dev_set["klein-4b"], out)
    shutil.rmtree(out / "transformer")
    build_transformer_like(dev_set["klein-4b"], seed=99).save_pretrained(out / "transformer")
    index = json.loads((out / "model_index.json").read_text())
    index["is_distilled"] = False
    (out / "model_index.json").write_text(json.dumps(index))
    return out


def test_klein_base_runs_cfg_on_the_distilled_ones_encoder(
    make_engine_settings: Callable[..., Settings], tmp_path: Path,
    dev_set: dict[str, Path], klein_base: Path,
) -> None:
    engine = Engine(make_engine_settings(tmp_path, models={
        "klein-4b": str(dev_set["klein-4b"]),
        "klein-9b": str(dev_set["klein-9b"]),
        "klein-base": {"pipeline": "klein", "source": str(klein_base)},
    }))
    distilled, base, nine = (engine.load(k) for k in ("klein-4b", "klein-base", "klein-9b"))
    assert not base.config.is_distilled and distilled.config.is_distilled
    assert base.text_encoder is distilled.text_encoder and base.tokenizer is distilled.tokenizer
    assert base.vae is distilled.vae is nine.vae
    assert nine.text_encoder is not distilled.text_encoder  # Qwen3-8B's is another model
    assert base.transformer is not distilled.transformer
    # True CFG: guidance above 1 runs the unconditioned pass too, and its scale shows.
    cfg = [_pixels(engine, "klein-base", guidance=g) for g in (1.0, 2.0, 5.0)]
    assert not np.array_equal(cfg[0], cfg[1]) and not np.array_equal(cfg[1], cfg[2])


def test_the_dev_set_shares_encoders_as_the_releases_do(engine: Engine) -> None:
    dev, four, nine, kv = (engine.load(k) for k in KINDS)
    assert dev.vae is four.vae is nine.vae is kv.vae
    assert nine.text_encoder is kv.text_encoder and nine.tokenizer is kv.tokenizer
    assert four.text_encoder is not nine.text_encoder
    assert type(dev.text_encoder).__name__ == "Mistral3ForConditionalGeneration"
    assert type(four.text_encoder).__name__ == "Qwen3ForCausalLM"
    assert four.config.is_distilled and nine.config.is_distilled
    base = engine.load("base")
    assert base.vae is not dev.vae  # FLUX.1 and FLUX.2 share nothing
    assert set(engine.shared_components()) == {"text_encoder", "tokenizer", "text_encoder_2",
                                               "tokenizer_2", "vae"}
    assert engine.shared_components()["vae"] is base.vae


def test_a_kind_of_another_pipeline_or_none_is_refused(
    engine: Engine, make_engine_settings: Callable[..., Settings], tmp_path: Path,
    dev_set: dict[str, Path],
) -> None:
    with pytest.raises(ValueError, match="kind 'base' runs a base pipeline"):
        engine.run(_request("base"))
    flux1_only = Engine(make_engine_settings(tmp_path, models={"base": str(dev_set["base"])}))
    with pytest.raises(MissingPipeline, match=r"no 'klein-9b' pipeline.*FLUXHOST_MODELS"):
        flux1_only.run(_request("klein-9b"))


def test_the_dev_checkpoints_reload_from_disk_as_configured_models(
    engine: Engine, make_engine_settings: Callable[..., Settings], tmp_path: Path,
    dev_set: dict[str, Path],
) -> None:
    configured = Engine(make_engine_settings(tmp_path, models={
        kind: str(dev_set[kind]) for kind in KINDS}))
    reference = (_image(64, 64, 3),)
    for kind in KINDS:
        assert np.array_equal(_pixels(configured, kind, references=reference),
                              _pixels(engine, kind, references=reference)), kind


@pytest.mark.parametrize("kind", ["flux2-dev", "klein-4b", "klein-9b-kv"])
def test_a_lora_applies_and_strength_zero_is_the_base_model(
    engine: Engine, dev_set: dict[str, Path], tmp_path: Path, kind: str,
) -> None:
    path = make_dev_lora(dev_set[kind], tmp_path / "lora.safetensors", seed=5)
    base = _pixels(engine, kind)
    with_lora = _pixels(engine, kind, lora=LoraSpec(f"ft-{kind}", path, 1.0))
    assert not np.array_equal(base, with_lora)
    assert np.array_equal(_pixels(engine, kind, lora=LoraSpec(f"ft-{kind}", path, 0.0)), base)
    assert np.array_equal(_pixels(engine, kind), base)


def test_progress_and_interruption_with_references(engine: Engine) -> None:
    steps: list[tuple[int, int]] = []
    req = _request("klein-9b-kv", references=(_image(64, 64, 0),), steps=3)
    engine.run(req, on_step=lambda done, total: steps.append((done, total)))
    assert steps == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(Interrupted, match="after step 1"):
        engine.run(req, should_stop=lambda: len(steps) >= 4,
                   on_step=lambda done, total: steps.append((done, total)))


def test_the_dev_builders_write_loadable_pipelines(tmp_path: Path) -> None:
    parts = DevParts()
    for kind, build in DEV_BUILDERS.items():
        build(tmp_path / kind, parts)
    classes = {kind: json.loads((tmp_path / kind / "model_index.json").read_text())
               for kind in DEV_BUILDERS}
    assert {k: v["_class_name"] for k, v in classes.items()} == {
        "flux2-dev": "Flux2Pipeline", "klein-4b": "Flux2KleinPipeline",
        "klein-9b": "Flux2KleinPipeline", "klein-9b-kv": "Flux2KleinKVPipeline"}
    assert classes["klein-4b"]["is_distilled"] is True
    assert classes["klein-9b"]["is_distilled"] is True
