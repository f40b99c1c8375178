"""Caption sources: files first, then the captioner, then the template; trigger word always."""

from __future__ import annotations

from fluxhost.training.captions import captions_for, with_trigger


def test_trigger_word_is_added_once() -> None:
    assert with_trigger("a red square", "TOK") == "TOK, a red square"
    assert with_trigger("TOK on a table", "TOK") == "TOK on a table"
    assert with_trigger("", "TOK") == "TOK"


def test_sources_in_order() -> None:
    out, source = captions_for(["a cat", None, None], mode="style", trigger_word="SKS",
                               captioning=True, describe=lambda i: "" if i == 2 else "a dog")
    assert out == ["SKS, a cat", "SKS, a dog", "an image in the style of SKS"]
    assert source == "captioner+files+template"


def test_captioning_off_uses_the_template() -> None:
    out, source = captions_for(["a cat"], mode="product", trigger_word="TOK", captioning=False,
                               describe=lambda i: "never")
    assert out == ["a product photo of TOK"] and source == "template"
