"""Model-set resolution, loading rules, encoding, and import hygiene."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

import fluxhost.engine
from fluxhost.engine import CONTENT_TYPES, encode_image
from fluxhost.engine.loading import is_local_source, local_dir
from fluxhost.engine.modelset import (
    DEFAULT_DEPTH_ESTIMATOR,
    configured_kinds,
    resolve_model_set,
    torch_device,
    torch_dtype,
)
from fluxhost.kinds import DEPTH_ESTIMATOR_KEY as DEPTH_ESTIMATOR
from fluxhost.settings import Settings


def test_resolve_configured_models(
    make_engine_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    models = {"base": "black-forest-labs/FLUX.1-dev", "fill": str(tmp_path)}
    assert resolve_model_set(make_engine_settings(tmp_path / "d", models=models)) == models
    assert not (tmp_path / "d").exists()


def test_resolve_dev_models(engine_settings: Settings, dev_set: dict[str, Path]) -> None:
    assert resolve_model_set(engine_settings) == {k: str(v) for k, v in dev_set.items()}


def test_depth_estimator_source(
    make_engine_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    models = {"base": str(tmp_path), "depth": str(tmp_path)}
    resolved = resolve_model_set(make_engine_settings(tmp_path, models=models))
    assert resolved == {**models, DEPTH_ESTIMATOR: DEFAULT_DEPTH_ESTIMATOR}
    assert DEFAULT_DEPTH_ESTIMATOR == "depth-anything/Depth-Anything-V2-Small-hf"
    # Not a pipeline kind, whatever the settings let through.
    settings = make_engine_settings(tmp_path, models=models)
    settings.models[DEPTH_ESTIMATOR] = str(tmp_path / "est")  # type: ignore[index]
    assert configured_kinds(settings) == frozenset({"base", "depth"})
    assert resolve_model_set(settings)[DEPTH_ESTIMATOR] == str(tmp_path / "est")


def test_device_and_dtype(
    make_engine_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def s(**kw: object) -> Settings:
        return make_engine_settings(tmp_path, **kw)

    assert torch_device(s(device="cpu")) == torch.device("cpu")
    assert torch_dtype(s(device="cpu")) == torch.float32
    assert torch_dtype(s(device="cpu", dtype="bfloat16")) == torch.bfloat16
    assert torch_device(s(device="cuda:1")) == torch.device("cuda:1")
    assert torch_dtype(s(device="cuda")) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert (torch_device(s()), torch_dtype(s())) == (torch.device("cpu"), torch.float32)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert (torch_device(s()), torch_dtype(s())) == (torch.device("cuda"), torch.bfloat16)
    assert torch_dtype(s(dtype="float16")) == torch.float16


def test_local_vs_hub_sources(tmp_path: Path) -> None:
    assert local_dir(str(tmp_path)) == tmp_path
    assert local_dir("black-forest-labs/FLUX.1-dev") is None
    assert not is_local_source("black-forest-labs/FLUX.1-dev")
    for missing in (str(tmp_path / "missing"), "./models/base", "~/nope/flux", "a/b/c"):
        with pytest.raises(FileNotFoundError):
            local_dir(missing)
        assert is_local_source(missing)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_encode_round_trip(fmt: str, mode: str) -> None:
    img = Image.new("RGB", (64, 48), (200, 30, 90)).convert(mode)
    data = encode_image(img, fmt)  # type: ignore[arg-type]
    back = Image.open(io.BytesIO(data))
    assert back.format == fmt.upper() and back.size == (64, 48)
    if fmt == "jpeg":
        assert back.mode == "RGB"
        # Quality 95: a flat colour survives almost exactly.
        ref = img.convert("RGB").getpixel((10, 10))
        got = back.convert("RGB").getpixel((10, 10))
        assert max(abs(a - b) for a, b in zip(ref, got, strict=True)) <= 3  # type: ignore[arg-type]
    else:
        assert back.tobytes() == img.tobytes()


def test_encode_rejects_unknown_format() -> None:
    with pytest.raises(ValueError):
        encode_image(Image.new("RGB", (4, 4)), "gif")  # type: ignore[arg-type]


def test_content_types() -> None:
    assert CONTENT_TYPES == {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def test_import_is_light(tmp_path: Path) -> None:
    src = Path(fluxhost.engine.__file__).resolve().parents[2]
    code = (
        "import sys, fluxhost.engine, fluxhost.engine.types, fluxhost.engine.engine,"
        " fluxhost.engine.preprocess, fluxhost.engine.families.flux1.redux,"
        " fluxhost.engine.devmodels, fluxhost.engine.modelset;"
        "heavy = {'torch', 'diffusers', 'transformers', 'peft', 'cv2'} & set(sys.modules);"
        "sys.exit(f'imported {sorted(heavy)}' if heavy else 0)"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_dev_model_dir_setting(
    make_engine_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    from fluxhost.engine.modelset import dev_model_root

    assert dev_model_root(make_engine_settings(tmp_path)) == tmp_path / "models" / "dev"
    custom = make_engine_settings(tmp_path, dev_model_dir=tmp_path / "elsewhere")
    assert dev_model_root(custom) == tmp_path / "elsewhere"
