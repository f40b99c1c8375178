"""The shipped klein demo's measures, reduced form of bench/emoji2_bench.py on its own
evaluation set (models/emoji64/eval/klein.npz): held-out colour/object combinations retrieve
their bank image far more often than both baselines, instructed recolours of held-out pairs
come out in the instructed colour, and seeds change the picture less than prompts do, but
visibly. Bounds sit below the figures measured on the shipped weights (docs/emoji64.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fluxhost.shipped import DEMO_ROOT
from fluxhost.training.emoji2 import bench

SETTINGS = bench.Settings(steps=8, guidance=4.0, limit=24)
# Measured here on the shipped weights (8 steps, 24 pairs): top-5 100%, edits 87.5%, seed ratio
# 0.16 ("heart" 15.0 between seeds, "apple" 5.5). Full bench (20 steps, 349): 94.0% and 84.0%.
TOP5_BOUND = 0.75  # chance: 5 of 3,206 bank images
EDIT_BOUND = 0.7  # chance: 1 of 7 colour words


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def pipe(monkeypatch_module: pytest.MonkeyPatch) -> Any:
    import torch
    from diffusers import Flux2KleinPipeline

    monkeypatch_module.setenv("HF_HUB_OFFLINE", "1")
    pipe = Flux2KleinPipeline.from_pretrained(DEMO_ROOT / "klein", dtype=torch.float32,
                                              local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def evaluation() -> bench.EvalSet:
    return bench.EvalSet.load(DEMO_ROOT / bench.EVAL_FILE)


def test_held_out_combinations_beat_both_baselines(pipe: Any,
                                                   evaluation: bench.EvalSet) -> None:
    figures = bench.adherence(pipe, evaluation, SETTINGS)
    held = figures["heldout"]
    assert held["top5"] >= TOP5_BOUND, figures
    for baseline in ("shuffled", "noise"):
        assert held["top5"] >= figures[baseline]["top5"] + 0.4, figures
        assert held["median_rank"] * 20 < figures[baseline]["median_rank"], figures


def test_edits_of_held_out_pairs_take_the_instructed_colour(
        pipe: Any, evaluation: bench.EvalSet) -> None:
    figures = bench.edits(pipe, evaluation, SETTINGS)
    assert figures["success"] >= EDIT_BOUND, figures


def test_seeds_change_the_picture_less_than_prompts_but_visibly(pipe: Any) -> None:
    figures = bench.diversity(pipe, ["apple", "heart", "red book"], SETTINGS, seeds=3)
    assert 0.1 < figures["ratio"] < 0.8, figures
    assert figures["per_prompt"]["heart"]["between_seeds"] > 10, figures
