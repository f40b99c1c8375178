"""Captions for training images: the trigger word in every one.

A caption comes from the image's `name.txt` when the upload has one (and `captioning` is on);
otherwise from a template by `mode`. No image captioning model ships with fluxhost yet, so
`captioning` cannot describe images itself; the finetune's details say which source was used."""

from __future__ import annotations

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
    file_captions: list[str | None], *, mode: str, trigger_word: str, captioning: bool
) -> tuple[list[str], str]:
    """One caption per image, and their source: "files", "template" or "files+template"."""
    template = TEMPLATES.get(mode, TEMPLATES["general"]).format(tw=trigger_word)
    out, used = [], set()
    for caption in file_captions:
        if captioning and caption:
            out.append(with_trigger(caption, trigger_word))
            used.add("files")
        else:
            out.append(template)
            used.add("template")
    return out, "+".join(sorted(used))
