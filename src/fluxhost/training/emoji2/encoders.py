"""Stage `encoders`: the word-level tokenizer, a frozen random Qwen3-shaped text encoder, and the
embeddings of every prompt the data uses.

Flux2KleinPipeline wraps a prompt in Qwen3's chat format, pads it to `max_sequence_length`
tokens, and stacks the encoder's hidden states 9, 18 and 27. Kept from that: the chat template,
the three layers (so the encoder has 27 layers, 64 wide: 1.2 M parameters), the class
(Qwen3ForCausalLM). Changed: the tokenizer is a BPE trained here on the data's prompts with
a vocabulary large enough that every prompt word is one token (unknown words fall into pieces),
a lower-casing normaliser and a whitespace/punctuation pre-tokenizer, so "red" is the same token
first or last in a prompt, in any case -- colour and object are separate words the transformer
learns to read; and prompts are TEXT_TOKENS long (the served manifest passes it as
max_sequence_length: 512 padded tokens would make every transformer step ~10x dearer).

Token embeddings are drawn at std 1 and the layers at 0.02, so the stacked hidden states are
mostly each token's own embedding, lightly mixed by causal attention: the words stay separable.

Outputs under DIR/encoders: tokenizer/, text_encoder/ (save_pretrained), embeds.pt
({"prompts": [...], "embeds": float16 P x TEXT_TOKENS x 3*WIDTH}; row 0 the empty prompt).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fluxhost.engine.families.flux2.dev_components import QWEN_CHAT_TEMPLATE, QWEN_SPECIALS
from fluxhost.engine.rng import seeded

TEXT_TOKENS = 20  # the longest prompt of the data is 18 tokens with the chat template
WIDTH = 64
LAYERS = 27  # Flux2KleinPipeline reads hidden states (9, 18, 27)
HEAD_DIM = 16
SEED = 21
THINK = ("<think>", "</think>")
# Pieces for words the data never had: letters, digits, punctuation.
ALPHABET = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'\"-:;()/&%$#@+*=_")


def build_tokenizer(prompts: list[str]) -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [*QWEN_SPECIALS, *THINK, "<unk>"]
    words = {w for p in prompts for w in p.lower().split()} | {"user", "assistant"}
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=len(words) * 4 + 512, min_frequency=1,
                                  special_tokens=specials, initial_alphabet=ALPHABET,
                                  show_progress=False)
    backend.train_from_iterator([*prompts, "user assistant"], trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", pad_token=QWEN_SPECIALS[0],
        eos_token=QWEN_SPECIALS[2], model_max_length=TEXT_TOKENS,
        chat_template=QWEN_CHAT_TEMPLATE,
        additional_special_tokens=[*QWEN_SPECIALS[1:], *THINK],
    )


def build_text_encoder(tokenizer: Any) -> Any:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=WIDTH, intermediate_size=2 * WIDTH,
        num_hidden_layers=LAYERS, num_attention_heads=WIDTH // HEAD_DIM, num_key_value_heads=1,
        head_dim=HEAD_DIM, max_position_embeddings=512, initializer_range=0.02,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    model: Any
    with seeded(SEED):
        model = Qwen3ForCausalLM(config)
        with torch.no_grad():
            model.get_input_embeddings().weight.normal_(0.0, 1.0)
    return model.eval().requires_grad_(False)


def text_pipeline(root: Path) -> Any:
    """A Flux2KleinPipeline holding only the tokenizer and encoder: its encode_prompt is
    exactly the conditioning generation uses."""
    from diffusers import Flux2KleinPipeline
    from transformers import PreTrainedTokenizerFast, Qwen3ForCausalLM

    return Flux2KleinPipeline(
        scheduler=None, vae=None, transformer=None,
        text_encoder=Qwen3ForCausalLM.from_pretrained(root / "text_encoder"),
        tokenizer=PreTrainedTokenizerFast.from_pretrained(root / "tokenizer"),
    )


def encode(pipe: Any, prompts: list[str], chunk: int = 256) -> Any:
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(prompts), chunk):
            embeds, _ = pipe.encode_prompt(prompt=prompts[i:i + chunk], device="cpu",
                                           max_sequence_length=TEXT_TOKENS)
            out.append(embeds)
    return torch.cat(out)


def build(work: Path, prompts: list[str]) -> dict[str, Any]:
    import torch

    out = work / "encoders"
    if (out / "embeds.pt").is_file():
        saved: dict[str, Any] = torch.load(out / "embeds.pt", weights_only=False)
        return saved
    tokenizer = build_tokenizer(prompts)
    encoder = build_text_encoder(tokenizer)
    tokenizer.save_pretrained(out / "tokenizer")
    encoder.save_pretrained(out / "text_encoder")
    embeds = encode(text_pipeline(out), prompts).to(torch.float16)
    result = {"prompts": prompts, "embeds": embeds}
    torch.save(result, out / "embeds.pt")
    print(f"encoders: {len(tokenizer)} tokens, embeddings {tuple(embeds.shape)}", flush=True)
    return result
