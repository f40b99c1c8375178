"""Tolerance table and operator overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fluxhost.moderation import DEFAULT_TABLE, DEFAULT_TOLERANCE, Policy, policy_from_settings


def test_table_covers_0_to_6_and_gets_monotonically_less_strict() -> None:
    assert sorted(DEFAULT_TABLE) == list(range(7))
    assert DEFAULT_TOLERANCE == 2
    for tol in range(6):
        stricter, looser = DEFAULT_TABLE[tol], DEFAULT_TABLE[tol + 1]
        assert stricter.image_threshold <= looser.image_threshold
        assert looser.refused <= stricter.refused
    assert all("minors" in rule.refused for rule in DEFAULT_TABLE.values())
    assert DEFAULT_TABLE[6].refused == {"minors"}


def test_out_of_range_tolerance_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        Policy().rule(7)


def test_table_override_merges_per_key_and_keeps_minors() -> None:
    policy = policy_from_settings(
        table={"3": {"image_threshold": 0.1}, 4: {"refuse": ["violence"]}}
    )
    assert policy.rule(3).image_threshold == 0.1
    assert policy.rule(3).refused == DEFAULT_TABLE[3].refused
    assert policy.rule(4).refused == {"violence", "minors"}
    assert policy.rule(4).image_threshold == DEFAULT_TABLE[4].image_threshold


@pytest.mark.parametrize(
    "table",
    [
        {9: {"image_threshold": 0.5}},
        {2: {"image_threshold": 1.5}},
        {2: {"threshold": 0.5}},
        {2: {"refuse": ["no-such-category"]}},
    ],
)
def test_bad_table_overrides_fail_at_startup(table: dict) -> None:
    with pytest.raises(ValueError):
        policy_from_settings(table=table)


def test_word_list_override_and_file(tmp_path: Path) -> None:
    policy = policy_from_settings(word_lists={"violence": ["thunderstorm"], "allow": []})
    assert policy.word_lists.categories["violence"] == ("thunderstorm",)
    assert policy.word_lists.allow == ()
    assert "sexual" in policy.word_lists.categories  # untouched categories keep defaults

    path = tmp_path / "lists.json"
    cats = {c: ["lighthouse"] for c in ("sexual", "violence", "hate", "self-harm", "minors")}
    path.write_text(json.dumps({"categories": cats}))
    policy = policy_from_settings(word_lists_path=path)
    assert policy.word_lists.categories["hate"] == ("lighthouse",)
    assert policy.word_lists.minors_context == ()


def test_disabled_policy() -> None:
    assert policy_from_settings(enabled=False).enabled is False
