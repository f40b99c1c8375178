"""The parts of the dev model set's FLUX.2 pipelines: tokenizers, text encoders, VAE, transformer
and scheduler, shrunk to widths of 8-32 and initialised with fixed seeds (see
fluxhost.engine.devmodels for the set as a whole).

What is kept from the real checkpoints, because the pipelines' code depends on it:
- the text encoders are deep enough for the hidden layers the pipelines read by default
  (FLUX.2 [dev]: Mistral's layers 10, 20, 30; [klein]: Qwen3's 9, 18, 27), so the engine calls
  the pipelines exactly as with real weights; the layers are 8 wide, so depth costs little;
- the transformer reads three stacked hidden states (joint_attention_dim = 3 x the encoder's
  width), and its input is the VAE's latents patchified 2x2 (in_channels = 4 x latent channels);
- the VAE downsamples 8x (four blocks), so sizes are multiples of 16 as with the real one.

What is not: the tokenizers are byte-level BPEs with no merges (every byte a token) built here,
with chat templates that produce the real formats' shape (Qwen3's `<|im_start|>` turns with the
empty think block; Mistral's `[SYSTEM_PROMPT]`/`[INST]`). FLUX.2 [dev]'s real tokenizer is a
PixtralProcessor, which transformers only builds with torchvision installed; its pipeline only
calls `apply_chat_template` on it for text, so the dev set holds the plain tokenizer. The dev VAE
has no mid-block attention: real references reach 1 MP, and attention over their 16k latent
pixels would make the dev set slow for nothing.

torch, diffusers, tokenizers and transformers are imported inside the functions.
"""

from __future__ import annotations

from typing import Any

from fluxhost.engine.devparts import bytes_to_unicode
from fluxhost.engine.rng import seeded

# Encoder widths: the dev klein-4b and klein-9b differ in their text encoder's width (like
# Qwen3-4B and Qwen3-8B), so the engine shares the encoder only between the checkpoints that hold
# the same one.
QWEN3_WIDTH = {"4b": 16, "9b": 24}
MISTRAL_WIDTH = 16
# Depth for the pipelines' default hidden-state layers: hidden_states[k] exists for k <= layers.
QWEN3_LAYERS = 27  # Flux2KleinPipeline reads (9, 18, 27)
MISTRAL_LAYERS = 30  # Flux2Pipeline reads (10, 20, 30)
HEAD_DIM = 8
# Both pipelines pad every prompt to 512 tokens (their max_sequence_length default).
MAX_LENGTH = 512
LATENT_CHANNELS = 8
# Initial weight scales that let the conditioning show. At the libraries' defaults the encoders'
# hidden states are ~0.02 (embeddings drawn at std 0.02) and the transformer's attention over
# ~800 tokens is near uniform: a prompt or a reference then moves a pixel by 1 level at most.
# These make the prompt, a reference and true CFG change the dev images plainly (tens of levels
# on average at 128x128 px, 2 steps), while the noise still dominates.
ENCODER_INIT_STD = 1.0
TRANSFORMER_INIT_STD = 0.3  # about 3x PyTorch's default for Linear layers 32 wide
# The FLUX.2 scheduler's shift is computed per request (compute_empirical_mu); these are
# FLUX.2-dev's scheduler settings.
SCHEDULER_CONFIG: dict[str, Any] = {
    "base_image_seq_len": 256,
    "base_shift": 0.5,
    "max_image_seq_len": 4096,
    "max_shift": 1.15,
    "num_train_timesteps": 1000,
    "shift": 3.0,
    "use_dynamic_shifting": True,
}

# Qwen3's template as Flux2KleinPipeline uses it: one user turn, the generation prompt, and
# (enable_thinking=False) the empty think block.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}{% endif %}"
)
QWEN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Mistral Small 3.x's layout for the messages Flux2Pipeline sends: a system turn and a user
# turn, each a list of text parts (an image part becomes its placeholder token).
MISTRAL_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ '[SYSTEM_PROMPT]' }}"
    "{% for part in message['content'] %}{{ part['text'] }}{% endfor %}"
    "{{ '[/SYSTEM_PROMPT]' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST]' }}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% else %}{{ '[IMG]' }}{% endif %}"
    "{% endfor %}{{ '[/INST]' }}"
    "{% else %}{% for part in message['content'] %}{{ part['text'] }}{% endfor %}"
    "{{ eos_token }}{% endif %}{% endfor %}"
)
MISTRAL_SPECIALS = ("<unk>", "<s>", "</s>", "<pad>", "[INST]", "[/INST]", "[SYSTEM_PROMPT]",
                    "[/SYSTEM_PROMPT]", "[IMG]", "[IMG_BREAK]", "[IMG_END]")


# --- tokenizers ---------------------------------------------------------------------------------


def _byte_vocab(specials: tuple[str, ...], first: bool) -> dict[str, int]:
    """Every byte a token (GPT-2's printable byte map), the special tokens before or after."""
    tokens = list(bytes_to_unicode().values())
    ordered = [*specials, *tokens] if first else [*tokens, *specials]
    return {token: i for i, token in enumerate(ordered)}


def build_qwen_tokenizer() -> Any:
    """Qwen3's tokenizer class over single bytes, with Qwen3's chat format. (transformers 5's
    Qwen2Tokenizer is the tokenizers-backed class Qwen2TokenizerFast names.)"""
    from transformers import Qwen2Tokenizer

    return Qwen2Tokenizer(
        vocab=_byte_vocab(QWEN_SPECIALS, first=False),
        merges=[],
        chat_template=QWEN_CHAT_TEMPLATE,
        model_max_length=MAX_LENGTH,
        additional_special_tokens=list(QWEN_SPECIALS[1:]),
    )


def build_mistral_tokenizer() -> Any:
    """A byte-level BPE tokenizer with Mistral's special tokens and chat format (the text half of
    the real checkpoint's PixtralProcessor: see the module docstring)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(vocab=_byte_vocab(MISTRAL_SPECIALS, first=True), merges=[],
                                   unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        model_max_length=MAX_LENGTH,
        chat_template=MISTRAL_CHAT_TEMPLATE,
        additional_special_tokens=list(MISTRAL_SPECIALS[4:]),
    )


# --- text encoders ------------------------------------------------------------------------------


def build_qwen3(tokenizer: Any, width: int, seed: int) -> Any:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=QWEN3_LAYERS,
        num_attention_heads=width // HEAD_DIM,
        num_key_value_heads=1,
        head_dim=HEAD_DIM,
        max_position_embeddings=MAX_LENGTH,
        initializer_range=ENCODER_INIT_STD,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model: Any
    with seeded(seed):
        model = Qwen3ForCausalLM(config)
    return model.eval()


def build_mistral3(tokenizer: Any, seed: int) -> Any:
    """Mistral3ForConditionalGeneration (Mistral Small 3.x's class): the pipeline runs only its
    language model; the vision tower is there because the class has one."""
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    config = Mistral3Config(
        text_config={
            "model_type": "mistral",
            "vocab_size": len(tokenizer),
            "hidden_size": MISTRAL_WIDTH,
            "intermediate_size": 2 * MISTRAL_WIDTH,
            "num_hidden_layers": MISTRAL_LAYERS,
            "num_attention_heads": MISTRAL_WIDTH // HEAD_DIM,
            "num_key_value_heads": 1,
            "head_dim": HEAD_DIM,
            "max_position_embeddings": MAX_LENGTH,
            "initializer_range": ENCODER_INIT_STD,
            "sliding_window": None,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "model_type": "pixtral",
            "hidden_size": MISTRAL_WIDTH,
            "intermediate_size": 2 * MISTRAL_WIDTH,
            "num_hidden_layers": 1,
            "num_attention_heads": MISTRAL_WIDTH // HEAD_DIM,
            "head_dim": HEAD_DIM,
            "image_size": 32,
            "patch_size": 8,
        },
        image_token_index=tokenizer.convert_tokens_to_ids("[IMG]"),
    )
    model: Any
    with seeded(seed):
        model = Mistral3ForConditionalGeneration(config)
    return model.eval()


# --- VAE, transformer, scheduler ----------------------------------------------------------------


def build_vae(seed: int) -> Any:
    from diffusers import AutoencoderKLFlux2

    vae: Any
    with seeded(seed):
        vae = AutoencoderKLFlux2(
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(8, 8, 8, 8),
            layers_per_block=1,
            latent_channels=LATENT_CHANNELS,
            norm_num_groups=4,
            sample_size=32,
            use_quant_conv=False,
            use_post_quant_conv=False,
            mid_block_add_attention=False,
        )
    return vae.eval()


def build_transformer(seed: int, text_width: int, guidance_embeds: bool) -> Any:
    """One double-stream and one single-stream block. `guidance_embeds`: FLUX.2 [dev] embeds its
    (distilled) guidance; [klein] has no guidance input."""
    import torch
    from diffusers import Flux2Transformer2DModel

    transformer: Any
    with seeded(seed):
        transformer = Flux2Transformer2DModel(
            patch_size=1,
            in_channels=4 * LATENT_CHANNELS,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=3 * text_width,
            timestep_guidance_channels=32,
            axes_dims_rope=(4, 4, 4, 4),
            guidance_embeds=guidance_embeds,
        )
        with torch.no_grad():
            for module in transformer.modules():
                if isinstance(module, torch.nn.Linear):
                    module.weight.normal_(0.0, TRANSFORMER_INIT_STD)
    return transformer.eval()


def build_scheduler() -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**SCHEDULER_CONFIG)
