"""Prompt moderation by word/phrase lists.

Normalisation and matching (exactly what is handled):

* Case: ``str.casefold`` (so "SEX", "Sex" and German "ß" → "ss" all compare equal).
* Accents/compatibility forms: NFKD, then combining marks dropped ("nüde" → "nude",
  full-width Latin letters → ASCII).
* Leetspeak, per letter of a term: 0→o, 1→i or l, 3→e, 4→a, 5→s, 7→t, @→a, $→s ("g0re",
  "$3x", "p0rn"). Digits are only reinterpreted inside a candidate term, never globally, so
  ordinary numbers in prompts are untouched.
* Repeated letters: every letter of a term may repeat ("seeex", "goooore").
* Phrases: the words of a multi-word term may be joined by any run of spaces, "-", "_" or
  ".", or by nothing ("self harm", "self-harm", "selfharm").
* Letter spacing: a run of three or more single characters separated by spaces or the
  punctuation `` . - _ * · , / | + ~ `` is joined into one token before matching ("s e x",
  "s.e.x", "s-e-x", "g o r e"); inside such a joined run terms match anywhere, since the word
  boundaries were destroyed by the spacing ("a s e x y" → "asexy" still matches).
* Plurals: an optional trailing "s"/"es" ("nudes").

Terms match only as whole words (not preceded or followed by a letter, digit, "@" or "$"), so
benign words that merely contain a term are not flagged: "Essex", "Sussex", "unisex",
"therapist", "grape", "sextant", "Scunthorpe". Benign names that contain a term as a whole word
("Gore-Tex", "Al Gore") are removed first via the ``allow`` list.

Not handled (known limits of any word list): homoglyphs from other scripts (a Cyrillic "ie"
for "e"), misspellings, irregular spacing such as "se x", euphemism and context. The image
classifier on the output is the backstop for what the prompt filter misses.

Reasons name the category only (``"prompt: sexual"``), never the matched text, so API responses
and logs never echo offending prompt content.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fluxhost.moderation.policy import Policy, WordLists

# Characters a term letter may be written as. "1" stands for both i and l.
_LEET: dict[str, str] = {
    "a": "a4@",
    "e": "e3",
    "i": "i1",
    "l": "l1",
    "o": "o0",
    "s": "s5$",
    "t": "t7",
}
# What counts as "part of a word" for boundary checks: leet symbols too, so "$ex" is one word.
_WORDCHAR = r"[^\W_]|[@$]"
_BEFORE = r"(?<![^\W_])(?<![@$])"
_AFTER = rf"(?!{_WORDCHAR})"
_PHRASE_GAP = r"[\s\-_.]*+"
_SPACED_SEP = r"[\s.\-_*·,/|+~]+"
# Three or more single characters separated by spacing punctuation: "s e x", "s.e.x".
_SPACED_RUN = re.compile(
    rf"{_BEFORE}(?:{_WORDCHAR})(?:{_SPACED_SEP}(?:{_WORDCHAR})(?![^\W_])(?![@$])){{2,}}"
)
_SEP_ONLY = re.compile(_SPACED_SEP)
# Marks a joined run so that terms inside it match without word boundaries.
_RUN_OPEN, _RUN_CLOSE = "\x02", "\x03"
_RUN = re.compile(f"{_RUN_OPEN}([^{_RUN_CLOSE}]*){_RUN_CLOSE}")


def normalize(text: str) -> str:
    """Casefold, strip accents (NFKD + drop combining marks) and join spaced-out letters, with
    each joined run wrapped in marker characters."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACED_RUN.sub(lambda m: _RUN_OPEN + _SEP_ONLY.sub("", m.group(0)) + _RUN_CLOSE, plain)


def _term_body(term: str, *, anchored_start: bool = False) -> str:
    """Regex for one term without word boundaries: leet classes, repeated letters, phrase gaps.

    Built to stay linear-time on hostile input ("1 1 1 ..." runs thousands long): identical
    consecutive letters merge into one counted class, and each class repeats possessively
    (no backtracking) unless the next class shares a character with it (only i/l, via "1"),
    where the greedy repeat is capped at 8 extra so backtracking is bounded.
    ``anchored_start`` forbids starting right after a character of the first class, so an
    unbounded search does not retry at every position inside one long repeated run.
    """
    words: list[list[tuple[str, int]]] = []
    for token in normalize_term(term).split():
        merged: list[tuple[str, int]] = []
        for c in token:
            if merged and merged[-1][0] == c:
                merged[-1] = (c, merged[-1][1] + 1)
            else:
                merged.append((c, 1))
        words.append(merged)
    flat = [item for word in words for item in word]
    classes = {c: set(_LEET.get(c, c)) for c, _ in flat}
    parts: list[str] = []
    index = 0
    for word in words:
        letters: list[str] = []
        for c, n in word:
            nxt = flat[index + 1][0] if index + 1 < len(flat) else None
            cls = f"[{re.escape(_LEET.get(c, c))}]"
            overlaps = nxt is not None and bool(classes[c] & classes[nxt])
            letters.append(f"{cls}{{{n},{n + 8}}}" if overlaps else f"{cls}{{{n},}}+")
            index += 1
        parts.append("".join(letters))
    body = _PHRASE_GAP.join(parts)
    if anchored_start and flat:
        body = f"(?<![{re.escape(_LEET.get(flat[0][0], flat[0][0]))}])" + body
    return body


def normalize_term(term: str) -> str:
    """Terms from word lists get the same case/accent folding as prompts; "-" and "_" in a term
    become phrase gaps so "self-harm" and "self harm" are one entry."""
    decomposed = unicodedata.normalize("NFKD", term.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[\s\-_.]+", " ", plain).strip()


def _compile(terms: tuple[str, ...], *, bounded: bool) -> re.Pattern[str] | None:
    bodies = sorted(
        {_term_body(t, anchored_start=not bounded) for t in terms if normalize_term(t)},
        key=len,
        reverse=True,
    )
    if not bodies:
        return None
    alternation = "|".join(bodies)
    if bounded:
        return re.compile(f"{_BEFORE}(?:{alternation})(?:e?s)?{_AFTER}")
    return re.compile(f"(?:{alternation})")


class PromptMatcher:
    """Compiled patterns for one set of word lists. Immutable after construction, so one
    instance is safely shared between threads."""

    def __init__(self, lists: WordLists) -> None:
        self._bounded: dict[str, re.Pattern[str]] = {}
        self._unbounded: dict[str, re.Pattern[str]] = {}
        for category, terms in lists.categories.items():
            bounded = _compile(terms, bounded=True)
            unbounded = _compile(terms, bounded=False)
            if bounded is not None and unbounded is not None:
                self._bounded[category] = bounded
                self._unbounded[category] = unbounded
        self._context = _compile(lists.minors_context, bounded=True)
        self._context_unbounded = _compile(lists.minors_context, bounded=False)
        self._allow = _compile(lists.allow, bounded=True)

    def categories(self, text: str) -> set[str]:
        """All categories whose terms occur in ``text`` (before any tolerance is applied)."""
        norm = normalize(text)
        if self._allow is not None:
            norm = self._allow.sub(" ", norm)
        runs = _RUN.findall(norm)
        found = {
            name
            for name, pattern in self._bounded.items()
            if _hit(pattern, norm) or any(_hit(self._unbounded[name], r) for r in runs)
        }
        # Sexual terms alongside a minor-indicating word: refused as "minors" at every tolerance,
        # while either alone is benign ("a child flying a kite").
        if "sexual" in found and self._has_minors_context(norm, runs):
            found.add("minors")
        return found

    def _has_minors_context(self, norm: str, runs: list[str]) -> bool:
        if self._context is None or self._context_unbounded is None:
            return False
        pattern = self._context_unbounded
        return _hit(self._context, norm) or any(_hit(pattern, r) for r in runs)


def _hit(pattern: re.Pattern[str], text: str) -> bool:
    """A match counts only if it contains a real letter: all-leet terms such as "loli" would
    otherwise match plain numbers like "1011"."""
    return any(any(c.isalpha() for c in m.group()) for m in pattern.finditer(text))


def check_prompt(text: str | None, policy: Policy, tolerance: int) -> list[str]:
    """Reasons to refuse ``text`` at ``tolerance``: ``["prompt: <category>", ...]`` sorted,
    empty when allowed (or when moderation is disabled)."""
    if not policy.enabled or not text:
        return []
    refused = policy.rule(tolerance).refused
    return [f"prompt: {c}" for c in sorted(policy.matcher.categories(text) & refused)]
