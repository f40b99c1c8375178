"""Per-kind memory and speed modes in the settings: a FLUXHOST_MODELS entry's own modes over the
FLUXHOST_* defaults, resolved by Settings.modes_for; each mistake refused at start, naming it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from fluxhost.modes import ATTENTION_BACKENDS, KindModes
from fluxhost.settings import Settings


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_defaults_are_off() -> None:
    assert settings().modes_for("base") == KindModes()
    assert KindModes() == KindModes("none", "none", None, 0.0, False, "native")


def test_entry_modes_win_over_the_global_defaults() -> None:
    s = settings(transformer_quant="int8", compile=True, models={
        "base": {"source": "/m/flux1", "text_encoder_quant": "int8", "first_block_cache": 0.1},
        "fill": "/m/fill",
        "klein-4b": {"source": "/m/klein", "transformer_quant": "none",
                     "attention_backend": "flash"},
    })
    assert s.modes_for("base") == KindModes("int8", "int8", None, 0.1, True, "native")
    assert s.modes_for("fill") == KindModes("int8", "none", None, 0.0, True, "native")
    assert s.modes_for("klein-4b") == KindModes("none", "none", None, 0.0, True, "flash")
    assert s.kind_pipeline("base") == "base" and s.custom_kinds() == {}


def test_a_gguf_kind_has_no_transformer_quant() -> None:
    s = settings(transformer_quant="int8",
                 models={"base": {"source": "/m/flux1", "gguf": "/m/flux1-dev-Q8_0.gguf"}})
    modes = s.modes_for("base")
    assert modes.gguf == "/m/flux1-dev-Q8_0.gguf" and modes.transformer_quant == "none"
    with pytest.raises(ValidationError, match="leave transformer_quant"):
        settings(models={"base": {"source": "/m", "gguf": "/m/x.gguf",
                                  "transformer_quant": "int8"}})


@pytest.mark.parametrize("entry, message", [
    ({"source": "/m", "transformer_quant": "int4"}, "transformer_quant"),
    ({"source": "/m", "attention_backend": "flsh"}, "unknown attention backend 'flsh'"),
    ({"source": "/m", "first_block_cache": -0.1}, "first_block_cache"),
    ({"source": "/m", "steps": 20}, "steps and guidance are for kinds on a FLUX.2 pipeline"),
    ({"source": "/m", "pipeline": "fill"}, "built in and runs the base pipeline"),
])
def test_bad_entries_are_refused(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(models={"base": entry})


def test_a_custom_kind_still_names_its_pipeline() -> None:
    with pytest.raises(ValidationError, match="'pro11' is not built in: give its pipeline"):
        settings(models={"pro11": {"source": "/m/x", "transformer_quant": "int8"}})
    s = settings(models={"pro11": {"pipeline": "base", "source": "/m/x", "compile": True}})
    assert s.custom_kinds() == {"pro11": "base"} and s.modes_for("pro11").compile


def test_global_attention_backend_is_checked() -> None:
    with pytest.raises(ValidationError, match="unknown attention backend 'fast'"):
        settings(attention_backend="fast")


def test_attention_backends_are_diffusers_names() -> None:
    from diffusers.models.attention_dispatch import AttentionBackendName

    assert set(ATTENTION_BACKENDS) == {b.value for b in AttentionBackendName}
