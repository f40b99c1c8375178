"""Moderation policy: what each ``safety_tolerance`` (0 strictest .. 6 least strict) refuses.

The API contract applies one ``safety_tolerance`` to both inputs (prompt, input images) and the
output image. This module turns that single integer into concrete rules:

================  ===================  =====================================================
safety_tolerance  image NSFW threshold  prompt categories refused
================  ===================  =====================================================
0                 0.30                 sexual, violence, hate, self-harm, minors
1                 0.40                 sexual, violence, hate, self-harm, minors
2 (default)       0.50                 sexual, violence, hate, self-harm, minors
3                 0.65                 sexual, hate, self-harm, minors
4                 0.80                 sexual, hate, minors
5                 0.90                 sexual, minors
6                 0.95                 minors
================  ===================  =====================================================

An image is refused when the classifier's NSFW probability is ``>= threshold``. The thresholds
follow the open_nsfw authors' guidance (below 0.2 "likely safe", above 0.8 "highly probably
NSFW"): the strictest level sits just above the "likely safe" band rather than inside it,
because flat benign images already score up to ~0.2 (a uniform mid-grey measures 0.198), so a
0.2 threshold would refuse blank canvases. The default (2) is the model's own 0.5 decision point.

``minors`` is refused at every tolerance, and an operator's table override cannot remove it
(``ALWAYS_REFUSED`` is added back): that is a legal floor, not a preference.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fluxhost.moderation.text import PromptMatcher

MIN_TOLERANCE = 0
MAX_TOLERANCE = 6
DEFAULT_TOLERANCE = 2
ALWAYS_REFUSED: frozenset[str] = frozenset({"minors"})

# Reserved keys in a word-list override: they are not categories (see wordlists.json).
MINORS_CONTEXT_KEY = "minors_context"
ALLOW_KEY = "allow"


@dataclass(frozen=True)
class ToleranceRule:
    """The rules for one safety_tolerance value."""

    image_threshold: float
    refused: frozenset[str]


_ALL = frozenset({"sexual", "violence", "hate", "self-harm", "minors"})

DEFAULT_TABLE: Mapping[int, ToleranceRule] = {
    0: ToleranceRule(0.30, _ALL),
    1: ToleranceRule(0.40, _ALL),
    2: ToleranceRule(0.50, _ALL),
    3: ToleranceRule(0.65, _ALL - {"violence"}),
    4: ToleranceRule(0.80, _ALL - {"violence", "self-harm"}),
    5: ToleranceRule(0.90, frozenset({"sexual", "minors"})),
    6: ToleranceRule(0.95, frozenset({"minors"})),
}


@dataclass(frozen=True)
class WordLists:
    """Prompt terms by category, plus the co-occurrence and allow lists."""

    categories: Mapping[str, tuple[str, ...]]
    minors_context: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()


def load_default_word_lists() -> WordLists:
    """The word lists shipped as package data (``fluxhost/moderation/wordlists.json``)."""
    raw = json.loads(
        resources.files("fluxhost.moderation").joinpath("wordlists.json").read_text("utf-8")
    )
    return _word_lists_from_raw(raw)


def _word_lists_from_raw(raw: Mapping[str, Any]) -> WordLists:
    return WordLists(
        categories={k: tuple(v) for k, v in raw["categories"].items()},
        minors_context=tuple(raw.get(MINORS_CONTEXT_KEY, ())),
        allow=tuple(raw.get(ALLOW_KEY, ())),
    )


@dataclass(frozen=True)
class Policy:
    """Everything moderation needs besides the classifier. Immutable so it can be shared across
    worker threads without locking.

    ``enabled=False`` makes every check pass without loading any model.
    """

    enabled: bool = True
    table: Mapping[int, ToleranceRule] = field(default_factory=lambda: dict(DEFAULT_TABLE))
    word_lists: WordLists = field(default_factory=load_default_word_lists)

    def rule(self, tolerance: int) -> ToleranceRule:
        """The rule for ``tolerance``; out-of-range values are a caller bug (the wire layer
        validates 0..6), so they raise rather than silently picking a level."""
        if not MIN_TOLERANCE <= tolerance <= MAX_TOLERANCE:
            raise ValueError(
                f"safety_tolerance must be {MIN_TOLERANCE}..{MAX_TOLERANCE}, got {tolerance}"
            )
        return self.table[tolerance]

    @cached_property
    def matcher(self) -> PromptMatcher:
        """Compiled prompt matcher; built once per policy because compiling the patterns is the
        expensive part of prompt checks. (cached_property writes the instance __dict__ directly,
        so it works on a frozen dataclass.)"""
        from fluxhost.moderation.text import PromptMatcher

        return PromptMatcher(self.word_lists)


def policy_from_settings(
    enabled: bool = True,
    table: Mapping[int | str, Mapping[str, Any]] | None = None,
    word_lists: Mapping[str, list[str]] | None = None,
    word_lists_path: str | Path | None = None,
) -> Policy:
    """Build a Policy from plain operator settings (``Settings.moderation_*``).

    ``table``: ``{tolerance: {"image_threshold": float, "refuse": [category, ...]}}``; each entry
    may give either key and replaces only that key of that tolerance's default. Keys may be
    strings ("3") because JSON objects have string keys. ``minors`` is always kept refused.

    ``word_lists_path``: a JSON file shaped like the packaged ``wordlists.json`` that replaces the
    defaults wholesale. ``word_lists``: ``{category: [terms]}`` applied on top; a listed category
    replaces that category's terms (new categories are allowed and are enforced wherever the
    table refuses them). The reserved keys ``minors_context`` and ``allow`` replace those lists.
    """
    merged: dict[int, ToleranceRule] = dict(DEFAULT_TABLE)
    for key, override in (table or {}).items():
        tol = int(key)
        if tol not in merged:
            raise ValueError(f"moderation table: tolerance {key!r} is not in 0..6")
        unknown = set(override) - {"image_threshold", "refuse"}
        if unknown:
            raise ValueError(f"moderation table[{tol}]: unknown keys {sorted(unknown)}")
        base = merged[tol]
        threshold = float(override.get("image_threshold", base.image_threshold))
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"moderation table[{tol}]: image_threshold must be in [0, 1]")
        refused = (
            frozenset(override["refuse"]) if "refuse" in override else base.refused
        ) | ALWAYS_REFUSED
        merged[tol] = ToleranceRule(threshold, refused)

    if word_lists_path is not None:
        lists = _word_lists_from_raw(json.loads(Path(word_lists_path).read_text("utf-8")))
    else:
        lists = load_default_word_lists()
    if word_lists:
        categories = dict(lists.categories)
        minors_context, allow = lists.minors_context, lists.allow
        for name, terms in word_lists.items():
            if name == MINORS_CONTEXT_KEY:
                minors_context = tuple(terms)
            elif name == ALLOW_KEY:
                allow = tuple(terms)
            else:
                categories[name] = tuple(terms)
        lists = WordLists(categories, minors_context, allow)

    # A refused category without terms would silently never fire; fail loudly at startup.
    missing = set().union(*(r.refused for r in merged.values())) - set(lists.categories)
    if missing:
        raise ValueError(f"moderation table refuses categories without word lists: {missing}")
    return Policy(enabled=enabled, table=merged, word_lists=lists)
