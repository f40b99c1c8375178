"""Captions for training images: the trigger word in every one.

With `captioning` on, a caption comes from the image's `name.txt` when the upload has one, else
from the captioner (a transformers image-to-text model) when one is configured; otherwise, and
with `captioning` off, from a template by `mode`. The finetune's details say which sources were
used."""

from __future__ import annotations

from collections.abc import Callable

TEMPLATES = {
    "general": "a photo of {tw}",
    "character": "a photo of {tw}, a character",
    "style": "an image in the style of {tw}",
    "product": "a product photo of {tw}",
}


def with_trigger(caption: str, trigger_word: str) -> str:
    """The caption, with the trigger word in front unless it already holds it."""
    caption = caption.strip()
    if trigger_word and trigger_word not in caption.split():
        caption = f"{trigger_word}, {caption}" if caption else trigger_word
    return caption


def captions_for(
    file_captions: list[str | None],
    *,
    mode: str,
    trigger_word: str,
    captioning: bool,
    describe: Callable[[int], str] | None = None,
) -> tuple[list[str], str]:
    """One caption per image, and their sources joined by "+" ("captioner", "files",
    "template"). `describe(i)` captions image i, when a captioner is configured."""
    template = TEMPLATES.get(mode, TEMPLATES["general"]).format(tw=trigger_word)
    out, used = [], set()
    for i, caption in enumerate(file_captions):
        if captioning and caption:
            out.append(with_trigger(caption, trigger_word))
            used.add("files")
        elif captioning and describe is not None and (described := describe(i).strip()):
            out.append(with_trigger(described, trigger_word))
            used.add("captioner")
        else:
            out.append(template)
            used.add("template")
    return out, "+".join(sorted(used))
