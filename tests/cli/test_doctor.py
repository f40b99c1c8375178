"""`fluxhost doctor` (the memory plan and whether each mode can run here), `worker --device`,
and `serve`/`worker` stopping at start, in one line naming the kind, the mode and why, when a
configured memory mode cannot run on this machine (a CPU: no CUDA, no bitsandbytes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import clean_env, fluxhost


def env(tmp_path: Path, dev_model_dir: Path, **values: str) -> dict[str, str]:
    return clean_env(FLUXHOST_DATA_DIR=str(tmp_path / "data"),
                     FLUXHOST_DEV_MODEL_DIR=str(dev_model_dir), FLUXHOST_DEVICE="cpu", **values)


def test_doctor_plans_published_models_without_a_download(tmp_path: Path,
                                                          dev_model_dir: Path) -> None:
    models = {"base": "black-forest-labs/FLUX.1-dev",
              "klein-4b": {"source": "black-forest-labs/FLUX.2-klein-4B",
                           "transformer_quant": "int8"}}
    out = fluxhost("doctor", cwd=tmp_path, env=env(
        tmp_path, dev_model_dir, FLUXHOST_MODELS=json.dumps(models), FLUXHOST_DTYPE="bfloat16",
        HF_HUB_OFFLINE="1"))
    lines = out.stdout.splitlines()
    assert lines[0].startswith("memory plan: cpu, ") and lines[0].endswith("bfloat16")
    assert lines[1] == ("  base: FLUX.1 [dev] transformer none 23.8 GB, CLIP-L none 0.2 GB, "
                        "T5-XXL none 9.5 GB, FLUX.1 VAE none 0.2 GB")
    assert lines[2] == ("  klein-4b: FLUX.2 [klein] 4B transformer int8 3.9 GB, Qwen3-4B none "
                        "8.0 GB, FLUX.2 VAE none 0.2 GB")
    assert lines[3].startswith("  total 45.8 GB of weights + 1.5 GB working memory")
    assert lines[-1] == "modes: every configured mode can run here"
    fits = lines[4] == "  fits"  # depends on this machine's RAM; the exit code says the same
    assert out.returncode == (0 if fits else 1), out.stderr


def test_doctor_says_which_mode_cannot_run(tmp_path: Path, dev_model_dir: Path) -> None:
    out = fluxhost("doctor", cwd=tmp_path, env=env(tmp_path, dev_model_dir,
                                                   FLUXHOST_TEXT_ENCODER_QUANT="nf4"))
    assert out.returncode == 1, out.stderr
    assert out.stdout.splitlines()[0].startswith("dev model set: tiny random weights")
    assert "cannot run here: kind 'base': text_encoder_quant=nf4 cannot run here: " \
           "bitsandbytes NF4 needs a CUDA GPU; this device is cpu" in out.stdout


@pytest.mark.parametrize("command, values, line", [
    (("worker",), {"FLUXHOST_TRANSFORMER_QUANT": "nf4"},
     "error: kind 'base': transformer_quant=nf4 cannot run here: bitsandbytes NF4 needs a "
     "CUDA GPU; this device is cpu"),
    (("serve", "--workers", "1"),
     {"FLUXHOST_MODELS": json.dumps({"base": {"source": "{dev}/base",
                                              "gguf": "/nowhere/flux1-dev-Q8_0.gguf"}})},
     "error: kind 'base': gguf=/nowhere/flux1-dev-Q8_0.gguf cannot run here: no such file"),
    (("worker", "--device", "cuda:3"), {},
     "error: device cuda:3 is not there: this machine shows 0 CUDA GPU(s)"),
    (("worker",), {"FLUXHOST_DEVICE_MAP": "balanced"},
     "error: device_map=balanced places a pipeline across several GPUs; this machine has 0"),
    (("worker", "--device", "gpu0"), {},
     "error: --device: 'gpu0' is not a device; use cpu, cuda, cuda:N, mps or auto"),
])
def test_a_mode_that_cannot_run_stops_the_start(
        tmp_path: Path, dev_model_dir: Path, command: tuple[str, ...], values: dict[str, str],
        line: str) -> None:
    values = {k: v.replace("{dev}", str(dev_model_dir)) for k, v in values.items()}
    out = fluxhost(*command, cwd=tmp_path, env=env(tmp_path, dev_model_dir, **values))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith(line)
    assert not (tmp_path / "data" / "fluxhost.db").exists()  # stopped before the database
