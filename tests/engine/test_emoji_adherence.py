"""Prompt adherence of the shipped emoji64 model, reduced form of bench/emoji_adherence.py:
generated images for training captions retrieve their own emoji among all 1,392 (16x16 pixel
space) far more often than noise images or the same images scored against shuffled prompts."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from fluxhost.shipped import DEMO_ROOT
from fluxhost.training.emoji import adherence

N_PROMPTS = 24
STEPS = 16
# Measured on the shipped weights (docs/emoji64.md); chance is 5/1392 = 0.4%.
TOP5_BOUND = 0.6


@pytest.fixture(scope="module")
def figures(monkeypatch_module: pytest.MonkeyPatch) -> dict[str, dict[str, float]]:
    import torch
    from diffusers import FluxPipeline

    from fluxhost.training.emoji.export import generate

    monkeypatch_module.setenv("HF_HUB_OFFLINE", "1")
    pipe = FluxPipeline.from_pretrained(DEMO_ROOT / "base", dtype=torch.float32,
                                        local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    ref = adherence.load_reference(DEMO_ROOT)
    rng = np.random.default_rng(0)
    targets = sorted(int(i) for i in rng.choice(ref.index("train"), N_PROMPTS, replace=False))

    def run(captions: list[str]) -> np.ndarray:
        images = generate(pipe, captions, seed=0, steps=STEPS)
        return np.asarray(images.permute(0, 2, 3, 1).numpy())

    result, _ = adherence.evaluate(run, ref, targets, seed=0, batch=12)
    return result


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_training_captions_retrieve_their_emoji(figures: dict[str, dict[str, float]]) -> None:
    assert figures["prompts"]["top5"] >= TOP5_BOUND, figures


def test_prompts_beat_both_baselines_clearly(figures: dict[str, dict[str, float]]) -> None:
    prompts = figures["prompts"]
    for baseline in ("noise", "shuffled"):
        assert prompts["top5"] >= figures[baseline]["top5"] + 0.5, figures
        assert prompts["median_rank"] * 20 < figures[baseline]["median_rank"], figures
