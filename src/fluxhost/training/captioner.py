"""Image captioning for training uploads: a transformers BLIP image-to-text model.

`Captioner.load(source)` takes a local `save_pretrained` directory or a Hugging Face hub id (e.g.
"Salesforce/blip-image-captioning-base", for users with internet) and `caption(image)` returns
one greedy, deterministic caption.

`build_dev_captioner(out_dir)` writes the dev captioner: a tiny `BlipForConditionalGeneration`
with random weights (hidden size 32, one layer per tower, 64px images) and a `BlipProcessor`
built locally (a BLIP image processor and a BERT WordPiece tokenizer over a small word list).
Like the engine's dev model set (`fluxhost.engine.devmodels`) it is deterministic (fixed seeds),
fast, offline and written atomically; its captions are random words from that list.

BLIP's decoder starts from `text_config.bos_token_id` (the `[DEC]` token in Salesforce's
checkpoints) and stops at `text_config.sep_token_id` (`[SEP]`); the dev tokenizer has both, with
`[DEC]` as its bos token so decoding with `skip_special_tokens` drops it.

torch and transformers are imported inside functions so importing this module stays cheap.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

DEV_CAPTIONER_SEED = 7_100
DEV_IMAGE_SIZE = 64
DEV_HIDDEN = 32

# ids 0..5 are fixed: the BERT specials plus BLIP's decoder-start token.
DEV_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]")
_DEV_WORDS_TEXT = (
    "a photo of the an in on with and at "
    "person man woman dog cat car tree house street room table chair sky water field road "
    "red blue green white black small large old young bright dark wooden "
    "standing sitting looking holding near front background"
)
DEV_WORDS = tuple(_DEV_WORDS_TEXT.split())


def _vocab() -> dict[str, int]:
    tokens = [*DEV_SPECIAL_TOKENS, *DEV_WORDS, *",.-"]
    return {token: i for i, token in enumerate(tokens)}


def build_dev_processor() -> Any:
    """A `BlipProcessor` built locally: 64px BLIP image processing and a small BERT tokenizer."""
    from transformers import BertTokenizer, BlipProcessor

    from fluxhost.engine.hf import pil_processor_class

    image_processor = pil_processor_class("BlipImageProcessor")(
        size={"height": DEV_IMAGE_SIZE, "width": DEV_IMAGE_SIZE}
    )
    tokenizer = BertTokenizer(vocab=_vocab(), bos_token="[DEC]", model_max_length=64)
    return BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)


def build_dev_model(vocab: dict[str, int], seed: int = DEV_CAPTIONER_SEED) -> Any:
    """A tiny random `BlipForConditionalGeneration` whose token ids match `vocab`."""
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration

    from fluxhost.engine.rng import seeded

    text_config = {
        "vocab_size": len(vocab),
        "hidden_size": DEV_HIDDEN,
        "encoder_hidden_size": DEV_HIDDEN,
        "intermediate_size": 2 * DEV_HIDDEN,
        "projection_dim": DEV_HIDDEN,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 64,
        "bos_token_id": vocab["[DEC]"],
        "eos_token_id": vocab["[SEP]"],
        "sep_token_id": vocab["[SEP]"],
        "pad_token_id": vocab["[PAD]"],
    }
    vision_config = {
        "hidden_size": DEV_HIDDEN,
        "intermediate_size": 2 * DEV_HIDDEN,
        "projection_dim": DEV_HIDDEN,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": DEV_IMAGE_SIZE,
        "patch_size": 16,
        # BLIP's vision default (1e-10) would make every image embed alike; the captions of
        # different images should differ, even on random weights.
        "initializer_range": 0.02,
    }
    config = BlipConfig(
        text_config=text_config,
        vision_config=vision_config,
        projection_dim=DEV_HIDDEN,
        image_text_hidden_size=DEV_HIDDEN,
    )
    with seeded(seed):
        model = BlipForConditionalGeneration(config)
        # With BERT's std-0.02 init the image reaches the logits through two tiny matrices
        # (cross-attention value and output), so every image got the same caption. Unit-gain
        # weights there make the (random) captions depend on the image.
        for layer in model.text_decoder.bert.encoder.layer:
            cross = layer.crossattention
            for linear in (cross.self.value, cross.output.dense):
                torch.nn.init.normal_(linear.weight, std=DEV_HIDDEN**-0.5)
    return model.eval()


def build_dev_captioner(out_dir: Path) -> Path:
    """Write the dev captioner (model + processor) to `out_dir`, atomically; return `out_dir`.

    Built in a temporary sibling directory and renamed into place; an existing `out_dir` is
    replaced."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    processor = build_dev_processor()
    model = build_dev_model(processor.tokenizer.get_vocab())
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        if out_dir.exists():
            stale = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.stale-", dir=out_dir.parent))
            os.replace(out_dir, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


class Captioner:
    """A loaded BLIP captioning model and its processor."""

    def __init__(self, model: Any, processor: Any, device: str = "cpu") -> None:
        self.model = model
        self.processor = processor
        self.device = device

    @classmethod
    def load(cls, source: str | Path, device: str = "cpu") -> Captioner:
        """Load from a local `save_pretrained` directory (never touching the network) or a hub
        id (downloaded as usual)."""
        from transformers import BlipForConditionalGeneration, BlipProcessor

        local = Path(source).is_dir()
        kwargs: dict[str, Any] = {"local_files_only": True} if local else {}
        processor = BlipProcessor.from_pretrained(str(source), **kwargs)
        model: Any = BlipForConditionalGeneration.from_pretrained(str(source), **kwargs)
        return cls(model.to(device).eval(), processor, device)

    def caption(self, image: Image.Image, max_new_tokens: int = 20) -> str:
        """One caption for `image`: greedy decoding, so the same image gives the same text."""
        import torch

        inputs = self.processor(images=image.convert("RGB"), return_tensors="pt").to(self.device)
        with torch.inference_mode():
            ids = self.model.generate(
                pixel_values=inputs["pixel_values"],
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
            )
        return str(self.processor.decode(ids[0], skip_special_tokens=True)).strip()
