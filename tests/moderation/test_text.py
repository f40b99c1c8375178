"""Prompt word-list matching. Only mild, clinical terms from the default lists appear here."""

from __future__ import annotations

import time

import pytest

from fluxhost.moderation import Policy, check_prompt, policy_from_settings


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy()


def test_refusal_depends_on_tolerance(policy: Policy) -> None:
    prompt = "a museum diorama with gore"
    for tol in (0, 1, 2):
        assert check_prompt(prompt, policy, tol) == ["prompt: violence"]
    for tol in (3, 4, 5, 6):
        assert check_prompt(prompt, policy, tol) == []
    # self-harm is refused up to 3, hate up to 4, sexual up to 5.
    assert check_prompt("a poster about suicide prevention", policy, 3) == ["prompt: self-harm"]
    assert check_prompt("a poster about suicide prevention", policy, 4) == []
    assert check_prompt("a nazi uniform in a museum", policy, 4) == ["prompt: hate"]
    assert check_prompt("a nazi uniform in a museum", policy, 5) == []
    assert check_prompt("a nude statue", policy, 5) == ["prompt: sexual"]
    assert check_prompt("a nude statue", policy, 6) == []


def test_minors_refused_at_every_tolerance_including_by_co_occurrence(policy: Policy) -> None:
    for tol in range(7):
        assert "prompt: minors" in check_prompt("csam", policy, tol)
        assert "prompt: minors" in check_prompt("nude child", policy, tol)
    assert check_prompt("a child flying a kite", policy, 0) == []


def test_reasons_name_categories_not_words(policy: Policy) -> None:
    reasons = check_prompt("gore and a nude statue", policy, 0)
    assert reasons == ["prompt: sexual", "prompt: violence"]


@pytest.mark.parametrize(
    "prompt",
    [
        "GORE",
        "g0re",
        "g o r e",
        "g.o.r.e",
        "g-o-r-e",
        "g_o_r_e",
        "goooore",
        "gg00rree",
        "decapitation",
        "d3c4p1t4t10n",
        "gory",
        "gores",
        "bl00dbath",
    ],
)
def test_obfuscated_violence_terms(policy: Policy, prompt: str) -> None:
    assert check_prompt(f"a scene with {prompt} at dusk", policy, 2) == ["prompt: violence"]


@pytest.mark.parametrize(
    "prompt",
    [
        "s e x",
        "s.e.x",
        "s-e-x",
        "seeex",
        "$3x",
        "5ex",
        "a s e x y poster",
        "nüde",
        "NÚDE",
        "\uff4e\uff55\uff44\uff45",
        "nudes",
        "p0rn",
    ],
)
def test_obfuscated_accented_and_fullwidth_sexual_terms(policy: Policy, prompt: str) -> None:
    assert check_prompt(prompt, policy, 2) == ["prompt: sexual"]


@pytest.mark.parametrize(
    "prompt", ["self harm", "self-harm", "selfharm", "self  harm", "Self.Harm"]
)
def test_phrase_separators(policy: Policy, prompt: str) -> None:
    assert check_prompt(prompt, policy, 2) == ["prompt: self-harm"]


@pytest.mark.parametrize(
    "prompt",
    [
        "a map of Essex, Sussex and Middlesex",
        "a therapist eating grapes",
        "an assassin in Scunthorpe",
        "a unisex sextant on a sextet's table",
        "a red Gore-Tex jacket",
        "a portrait of Al Gore",
        "a cocktail analysis in Sextus Empiricus' study",
        "a class of 1011 students, room 5, 7 apples, 0 pears",
        "a child flying a kite",
        "ten apples",
        "an oil painting of a lighthouse at dawn",
        "café crème brûlée",
        "",
    ],
)
def test_no_false_positives_on_benign_prompts(policy: Policy, prompt: str) -> None:
    assert check_prompt(prompt, policy, 0) == []


def test_none_prompt_and_disabled_policy() -> None:
    assert check_prompt(None, Policy(), 0) == []
    assert check_prompt("gore", policy_from_settings(enabled=False), 0) == []


def test_operator_word_lists_are_matched_the_same_way() -> None:
    policy = policy_from_settings(word_lists={"violence": ["thunderstorm"]})
    assert check_prompt("a thund3rst0rm", policy, 0) == ["prompt: violence"]
    assert check_prompt("gore", policy, 0) == []


@pytest.mark.parametrize("hostile", ["1 " * 10000, "l1" * 10000, "lo" + "1" * 20000, "s e " * 5000])
def test_matching_stays_fast_on_hostile_input(policy: Policy, hostile: str) -> None:
    started = time.perf_counter()
    check_prompt(hostile, policy, 0)
    assert time.perf_counter() - started < 0.5
