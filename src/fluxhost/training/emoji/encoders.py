"""Stage `encoders`: tokenizers and frozen text encoders, and every caption's embeddings.

The text encoders keep their random initialisation (fixed seeds): CLIP- and T5-shaped like
FLUX.1's, ~1/1000 the size. What makes prompts readable is the T5 tokenizer: a word-level Unigram
vocabulary of every caption word (characters as fallback for unknown words), lower-casing its
input, so each known word is one token with its own random embedding, which the transformer
learns to read. Tokenizer normalisers do not survive a save/load round trip of transformers'
T5Tokenizer, so case-insensitivity is built into the vocabulary instead: "▁Red" and "▁RED" are
tokens of their own whose T5 input embeddings are copies of "▁red"'s, so they encode alike.
The CLIP tokenizer is the dev set's byte-level one (its pooled output is a
global prompt fingerprint). Frozen encoders let the transformer stage encode every caption once.

Outputs under DIR/encoders: tokenizer/, text_encoder/, tokenizer_2/, text_encoder_2/
(save_pretrained), embeds.pt ({"captions", "t5", "clip"}; index 0 is the empty prompt, the
unconditional input of classifier-free guidance).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fluxhost.engine.families.flux1.dev_components import build_clip_tokenizer
from fluxhost.training.emoji import dataset

T5_MAX_LENGTH = 32
T5_DIM = 128
CLIP_DIM = 64
SEED_CLIP, SEED_T5 = 11, 12
FALLBACK_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'\"-:;()/&%$#@+*=_"


def case_variants(word: str) -> list[str]:
    return [v for v in dict.fromkeys((word.capitalize(), word.upper())) if v != word]


def build_t5_tokenizer(words: list[str]) -> Any:
    from transformers import T5Tokenizer

    vocab: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0),
                                      ("▁", -10.0)]
    known = sorted(set(words))
    vocab += [("▁" + w, -1.0) for w in known]
    vocab += [("▁" + v, -1.0) for w in known for v in case_variants(w)]
    pieces = {piece for piece, _ in vocab}
    vocab += [("▁" + c, -12.0) for c in FALLBACK_CHARS if "▁" + c not in pieces]
    vocab += [(c, -13.0) for c in FALLBACK_CHARS]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=T5_MAX_LENGTH)


def tie_case_variants(t5: Any, t5_tok: Any, words: list[str]) -> None:
    """Give "▁Red" and "▁RED" the input embedding of "▁red"."""
    import torch

    table = t5.get_input_embeddings().weight
    with torch.no_grad():
        for w in sorted(set(words)):
            source = t5_tok.convert_tokens_to_ids("▁" + w)
            for v in case_variants(w):
                table[t5_tok.convert_tokens_to_ids("▁" + v)] = table[source]


def build_text_encoders(clip_tok: Any, t5_tok: Any) -> tuple[Any, Any]:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    clip_config = CLIPTextConfig(
        vocab_size=len(clip_tok), hidden_size=CLIP_DIM, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
        projection_dim=CLIP_DIM, bos_token_id=clip_tok.bos_token_id,
        eos_token_id=clip_tok.eos_token_id, pad_token_id=clip_tok.pad_token_id,
    )
    t5_config = T5Config(
        vocab_size=len(t5_tok), d_model=T5_DIM, d_kv=32, d_ff=256, num_layers=2,
        num_heads=4, relative_attention_num_buckets=16, feed_forward_proj="gated-gelu",
        pad_token_id=t5_tok.pad_token_id, eos_token_id=t5_tok.eos_token_id,
    )
    torch.manual_seed(SEED_CLIP)
    clip = CLIPTextModel(clip_config).eval().requires_grad_(False)
    torch.manual_seed(SEED_T5)
    t5 = T5EncoderModel(t5_config).eval().requires_grad_(False)
    return clip, t5


def text_pipeline(root: Path) -> Any:
    """A FluxPipeline holding only the saved tokenizers and encoders: its encode_prompt is the
    exact conditioning generation will use."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline
    from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, T5Tokenizer

    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=None,
        text_encoder=CLIPTextModel.from_pretrained(root / "text_encoder"),
        tokenizer=CLIPTokenizer.from_pretrained(root / "tokenizer"),
        text_encoder_2=T5EncoderModel.from_pretrained(root / "text_encoder_2"),
        tokenizer_2=T5Tokenizer.from_pretrained(root / "tokenizer_2"),
        transformer=None,
    )


def encode(pipe: Any, prompts: list[str]) -> tuple[Any, Any]:
    import torch

    with torch.no_grad():
        t5, clip, _ = pipe.encode_prompt(
            prompt=prompts, prompt_2=None, max_sequence_length=T5_MAX_LENGTH
        )
    return t5, clip


def build(work: Path) -> Path:
    import torch

    out = work / "encoders"
    if (out / "embeds.pt").is_file():
        print(f"encoders: {out} exists, kept")
        return out
    _, entries = dataset.load(work)
    words = [w for e in entries for w in e.caption.split()]
    clip_tok, t5_tok = build_clip_tokenizer(), build_t5_tokenizer(words)
    clip, t5 = build_text_encoders(clip_tok, t5_tok)
    tie_case_variants(t5, t5_tok, words)
    for name, part in (("tokenizer", clip_tok), ("text_encoder", clip),
                       ("tokenizer_2", t5_tok), ("text_encoder_2", t5)):
        part.save_pretrained(out / name)
    captions = [""] + [e.caption for e in entries]
    pipe = text_pipeline(out)
    t5_embeds, clip_embeds = encode(pipe, captions)
    torch.save({"captions": captions, "t5": t5_embeds, "clip": clip_embeds}, out / "embeds.pt")
    print(f"encoders: {len(set(words))} words, embeddings {tuple(t5_embeds.shape)}, "
          f"{tuple(clip_embeds.shape)}")
    return out
