"""The offline upsampler: deterministic, subject first, varied by seed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fluxhost.upsampling import Upsampler, upsample
from fluxhost.upsampling.offline import CATEGORIES, SUBJECTS, OfflineUpsampler


@pytest.mark.parametrize("prompt", ["a lighthouse at dusk", "A cat, sitting.", "  two  words "])
def test_same_input_same_output_and_subject_first(prompt: str) -> None:
    first = OfflineUpsampler().upsample(prompt, 1234)
    assert first == OfflineUpsampler().upsample(prompt, 1234)
    subject = " ".join(prompt.split()).rstrip(" ,.;")
    assert first.startswith(subject + ", ")
    assert len(first) > len(subject) + 20


def test_one_detail_from_each_category() -> None:
    details = OfflineUpsampler().upsample("a lighthouse at dusk", 5).split(", ")
    # Phrases contain no ", " so each appended detail is one split item, in category order.
    assert len(details) == 1 + len(CATEGORIES)
    for phrase, vocabulary in zip(details[1:], CATEGORIES, strict=True):
        assert phrase in vocabulary


def test_different_seeds_usually_differ() -> None:
    outputs = {OfflineUpsampler().upsample("a lighthouse at dusk", seed) for seed in range(50)}
    assert len(outputs) >= 45


def test_different_prompts_draw_different_details() -> None:
    tails = {OfflineUpsampler().upsample(f"subject {i}", 0).split(", ", 1)[1] for i in range(30)}
    assert len(tails) >= 25


def test_empty_prompt_still_describes_something() -> None:
    for prompt in ("", "   "):
        text = OfflineUpsampler().upsample(prompt, 9)
        assert text.split(", ")[0] in SUBJECTS
        assert text == OfflineUpsampler().upsample(prompt, 9)


def test_vocabularies_are_curated() -> None:
    for vocabulary in (*CATEGORIES, SUBJECTS):
        assert len(vocabulary) >= 12
        assert len(set(vocabulary)) == len(vocabulary)
        assert all(", " not in phrase and phrase == phrase.strip() for phrase in vocabulary)


def test_stable_across_processes() -> None:
    # String seeds are hashed with SHA-512, not hash(), so PYTHONHASHSEED must not matter.
    code = (
        "from fluxhost.upsampling.offline import OfflineUpsampler;"
        "print(OfflineUpsampler().upsample('a fox', 77))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": str(h)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for h in (1, 2)
    }
    assert outputs == {OfflineUpsampler().upsample("a fox", 77)}


def test_default_upsampler_is_offline_and_satisfies_protocol() -> None:
    assert isinstance(OfflineUpsampler(), Upsampler)
    assert upsample("a fox", 3, None) == (OfflineUpsampler().upsample("a fox", 3), None)


def test_package_import_is_cheap() -> None:
    code = "import sys, fluxhost.upsampling; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
