"""The dev model set: tiny FLUX-family pipelines with random weights.

fluxhost must start, serve, and pass its tests on a machine with no GPU, no internet, and no
multi-gigabyte FLUX checkpoint. When no models are configured (`FLUXHOST_MODELS` empty) the engine
builds this set instead: real diffusers pipeline classes (FluxPipeline, ...) whose components are
shrunk to hidden size 32 and initialised with fixed seeds. Everything downstream of the engine --
scheduling, LoRA loading, progress, cancellation, encoding -- then runs the same code paths it
would run with FLUX.1-dev; only the pictures are meaningless.

Properties:
- Random weights: outputs are structured noise. See `DEV_MODEL_WARNING`.
- Deterministic: the same code builds bit-identical weights (fixed torch seeds, a private RNG
  state), so the same request with the same seed gives the same pixels on every machine running
  the same torch build.
- Fast: building and saving takes well under a second; tokenizers are built locally (a CLIP
  byte-level BPE with no merges, a T5 Unigram over single characters), nothing is downloaded.
- Crash-safe: the set is built in a temporary sibling directory and renamed into place together
  with a marker file, so a crash never leaves a half-written set behind, and concurrent builders
  (API process and worker process starting together) settle on one winner.

Layout: `root/<kind>/` is a `save_pretrained` directory per pipeline kind (base, fill, canny,
depth, kontext, redux), `root/depth_estimator/` a transformers depth model (Depth Anything
architecture) that turns control images into depth maps for the depth pipeline, and
`root/COMPLETE` the marker.

- base, fill, canny, depth and kontext are complete pipelines that hold the *same* text encoders,
  tokenizers and VAE (one set of objects saved five times), like BFL's FLUX.1 releases, so each
  directory also loads on its own while the engine loads those components once and shares them.
  Their transformers differ only in `x_embedder`'s input width: 64 (base), 384 (fill: latents +
  masked-image latents + packed mask), 128 (canny/depth: latents + control latents); kontext
  (FluxKontextPipeline) is 64 like base: its reference image's latents are extra tokens.
- redux is shaped like black-forest-labs/FLUX.1-Redux-dev: a SigLIP vision tower, the Redux
  projector and an image processor, and no text encoders (the engine passes the base pipeline's).

torch, diffusers and transformers are imported inside functions so that importing this module
(e.g. for `DEV_KINDS`) stays cheap.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fluxhost.engine._hf import quiet_progress, set_offline_env

if TYPE_CHECKING:
    from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, T5Tokenizer

DEV_MODEL_WARNING = (
    "fluxhost is running the DEV MODEL SET: tiny FLUX-family pipelines with RANDOM weights. "
    "Every image it generates is noise. Set FLUXHOST_MODELS (e.g. "
    '\'{"base": "black-forest-labs/FLUX.1-dev"}\') to serve real models.'
)

# Bump when a builder changes what it writes, so existing sets on disk are rebuilt.
DEV_SET_VERSION = 3
MARKER_NAME = "COMPLETE"

HIDDEN = 32
# T5 pads every prompt to this many tokens; small keeps the dev set fast, while the characters
# the tokenizer maps one-to-one still give distinct embeddings for distinct short prompts.
T5_MAX_LENGTH = 128
CLIP_MAX_LENGTH = 77

# FLUX.1 VAE latent normalisation and scheduler settings, copied from the real model configs so
# the pipelines exercise the same code paths.
FLUX_VAE_SCALING = 0.3611
FLUX_VAE_SHIFT = 0.1159
FLUX_SCHEDULER_CONFIG: dict[str, Any] = {
    "base_image_seq_len": 256,
    "base_shift": 0.5,
    "max_image_seq_len": 4096,
    "max_shift": 1.15,
    "num_train_timesteps": 1000,
    "shift": 3.0,
    "use_dynamic_shifting": True,
}


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch for one component without disturbing the caller's global RNG state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# --- tokenizers ---------------------------------------------------------------------------------


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable character map."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars, strict=True)}


def build_clip_tokenizer() -> CLIPTokenizer:
    """Byte-level BPE with no merges: every byte is a token (word-final bytes carry `</w>`)."""
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    for suffix in ("", "</w>"):
        for char in _bytes_to_unicode().values():
            vocab[char + suffix] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=CLIP_MAX_LENGTH)


def build_t5_tokenizer() -> T5Tokenizer:
    """Unigram over single characters, with word-initial variants scored higher."""
    from transformers import T5Tokenizer

    chars = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'\"-:;()/&%$#@+*=_"
    vocab: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [("▁" + c, -2.5) for c in chars]
    vocab += [(c, -3.0) for c in chars + chars.upper()]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=T5_MAX_LENGTH)


# --- components ---------------------------------------------------------------------------------


def build_text_encoders(
    clip_tok: CLIPTokenizer, t5_tok: T5Tokenizer, seed: int
) -> tuple[CLIPTextModel, T5EncoderModel]:
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    clip_config = CLIPTextConfig(
        vocab_size=len(clip_tok),
        hidden_size=HIDDEN,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=CLIP_MAX_LENGTH,
        projection_dim=HIDDEN,
        bos_token_id=clip_tok.bos_token_id,
        eos_token_id=clip_tok.eos_token_id,
        pad_token_id=clip_tok.pad_token_id,
    )
    t5_config = T5Config(
        vocab_size=len(t5_tok),
        d_model=HIDDEN,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        feed_forward_proj="gated-gelu",
        pad_token_id=t5_tok.pad_token_id,
        eos_token_id=t5_tok.eos_token_id,
    )
    with _seeded(seed):
        clip = CLIPTextModel(clip_config)
    with _seeded(seed + 1):
        t5 = T5EncoderModel(t5_config)
    return clip.eval(), t5.eval()


def build_vae(seed: int) -> Any:
    from diffusers import AutoencoderKL

    vae: Any
    with _seeded(seed):
        # Four blocks give FLUX's 8x downsampling; the pipeline derives its latent geometry from
        # len(block_out_channels).
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(8, 8, 8, 8),
            layers_per_block=1,
            latent_channels=16,
            norm_num_groups=4,
            sample_size=32,
            scaling_factor=FLUX_VAE_SCALING,
            shift_factor=FLUX_VAE_SHIFT,
            use_quant_conv=False,
            use_post_quant_conv=False,
        )
    return vae.eval()


def build_transformer(seed: int, in_channels: int = 64, out_channels: int | None = None) -> Any:
    from diffusers import FluxTransformer2DModel

    transformer: Any
    with _seeded(seed):
        transformer = FluxTransformer2DModel(
            patch_size=1,
            in_channels=in_channels,
            out_channels=out_channels,
            num_layers=1,
            num_single_layers=2,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=HIDDEN,
            pooled_projection_dim=HIDDEN,
            guidance_embeds=True,
            axes_dims_rope=(4, 6, 6),
        )
    return transformer.eval()


def build_scheduler() -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER_CONFIG)


# --- kinds --------------------------------------------------------------------------------------

# Every component has its own seed, so the weights do not depend on build order.
SEED_CLIP, SEED_VAE = 0, 2  # SEED_CLIP + 1 is T5
SEED_TRANSFORMER = {"base": 3, "fill": 4, "canny": 5, "depth": 6, "kontext": 10}
SEED_SIGLIP, SEED_REDUX, SEED_DEPTH_ESTIMATOR = 7, 8, 9

# x_embedder input width per pipeline kind (see the module docstring); all predict 64 channels.
# Kontext appends the reference image's latents along the token sequence, not the channels, so
# its transformer is as wide as base's (FLUX.1-Kontext-dev: in_channels 64).
TRANSFORMER_IN_CHANNELS = {"base": 64, "fill": 384, "canny": 128, "depth": 128, "kontext": 64}

# SigLIP at 32x32 pixels in 8x8 patches: 16 image tokens per Redux image prompt (729 for the real
# SigLIP so400m at 384x384).
SIGLIP_IMAGE_SIZE = 32
SIGLIP_PATCH = 8

# The model set entry that is not a pipeline kind.
DEPTH_ESTIMATOR = "depth_estimator"


@dataclass(frozen=True)
class SharedComponents:
    """The text encoders, tokenizers and VAE every FLUX pipeline kind of the set holds."""

    clip_tokenizer: Any
    t5_tokenizer: Any
    clip: Any
    t5: Any
    vae: Any

    def pipeline_kwargs(self) -> dict[str, Any]:
        return {
            "text_encoder": self.clip,
            "tokenizer": self.clip_tokenizer,
            "text_encoder_2": self.t5,
            "tokenizer_2": self.t5_tokenizer,
            "vae": self.vae,
        }


def build_shared_components() -> SharedComponents:
    clip_tok, t5_tok = build_clip_tokenizer(), build_t5_tokenizer()
    clip, t5 = build_text_encoders(clip_tok, t5_tok, seed=SEED_CLIP)
    return SharedComponents(clip_tok, t5_tok, clip, t5, build_vae(seed=SEED_VAE))


def _save(pipe: Any, out_dir: Path) -> None:
    with quiet_progress():
        pipe.save_pretrained(out_dir)


def _flux_builder(kind: str, class_name: str) -> Callable[[Path, SharedComponents], None]:
    def build(out_dir: Path, shared: SharedComponents) -> None:
        import diffusers

        transformer = build_transformer(
            seed=SEED_TRANSFORMER[kind],
            in_channels=TRANSFORMER_IN_CHANNELS[kind],
            # FluxTransformer2DModel predicts in_channels channels unless told otherwise; every
            # kind denoises the same 64 packed latent channels.
            out_channels=64,
        )
        pipe_cls = getattr(diffusers, class_name)
        pipe = pipe_cls(
            scheduler=build_scheduler(), transformer=transformer, **shared.pipeline_kwargs()
        )
        _save(pipe, out_dir)

    return build


def _pil_processor_class(name: str) -> Any:
    """transformers 5's PIL-backed image processor class `<name>Pil` where it exists: without
    torchvision transformers falls back to it anyway, with a warning on every load, and the
    saved class name is what later loads use. Older transformers: `name` itself (PIL-based)."""
    import transformers

    return getattr(transformers, f"{name}Pil", None) or getattr(transformers, name)


def build_redux_components(seed_siglip: int, seed_redux: int) -> tuple[Any, Any, Any]:
    """SigLIP vision tower, its image processor, and a Redux projector into the transformer's
    text-token width (the dev transformer's joint_attention_dim, HIDDEN)."""
    from diffusers.pipelines.flux.modeling_flux import ReduxImageEncoder
    from transformers import SiglipVisionConfig, SiglipVisionModel

    config = SiglipVisionConfig(
        hidden_size=HIDDEN,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=SIGLIP_IMAGE_SIZE,
        patch_size=SIGLIP_PATCH,
    )
    with _seeded(seed_siglip):
        encoder = SiglipVisionModel(config).eval()
    processor = _pil_processor_class("SiglipImageProcessor")(
        size={"height": SIGLIP_IMAGE_SIZE, "width": SIGLIP_IMAGE_SIZE}
    )
    embedder: Any
    with _seeded(seed_redux):
        embedder = ReduxImageEncoder(redux_dim=HIDDEN, txt_in_features=HIDDEN).eval()
    return encoder, processor, embedder


def _build_redux(out_dir: Path, shared: SharedComponents) -> None:
    from diffusers import FluxPriorReduxPipeline

    encoder, processor, embedder = build_redux_components(SEED_SIGLIP, SEED_REDUX)
    # No text encoders, like FLUX.1-Redux-dev: the engine hands the base pipeline's to it.
    pipe = FluxPriorReduxPipeline(
        image_encoder=encoder, feature_extractor=processor, image_embedder=embedder
    )
    _save(pipe, out_dir)


def _build_depth_estimator(out_dir: Path, shared: SharedComponents) -> None:
    """A Depth Anything (V2 architecture: DINOv2 backbone + DPT head) with 137k random
    parameters, loadable like depth-anything/Depth-Anything-V2-Small-hf with the Auto classes."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    # At the default initializer_range (0.02) the relu head outputs ~1e-7 almost everywhere;
    # 0.2 gives a map with visible structure that depends on the input image.
    init_range = 0.2
    # The DPT neck reads the outputs of all four layers. A keyword dict because transformers 5
    # declares out_features as a private field while still accepting it.
    stages: dict[str, Any] = {"out_features": ["stage1", "stage2", "stage3", "stage4"]}
    backbone = Dinov2Config(
        hidden_size=HIDDEN,
        num_hidden_layers=4,
        num_attention_heads=2,
        image_size=28,
        patch_size=14,
        reshape_hidden_states=False,
        initializer_range=init_range,
        **stages,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=HIDDEN,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        patch_size=14,
        initializer_range=init_range,
    )
    model: Any
    with _seeded(SEED_DEPTH_ESTIMATOR):
        model = DepthAnythingForDepthEstimation(config).eval()
    # The real processor resizes to 518 px (short side, multiple of 14); 56 keeps the dev one fast.
    processor = _pil_processor_class("DPTImageProcessor")(
        size={"height": 56, "width": 56},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,  # bicubic, as Depth Anything's
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    with quiet_progress():
        model.save_pretrained(out_dir)
        processor.save_pretrained(out_dir)


# Pipeline kind -> builder writing a save_pretrained directory.
_BUILDERS: dict[str, Callable[[Path, SharedComponents], None]] = {
    "base": _flux_builder("base", "FluxPipeline"),
    "fill": _flux_builder("fill", "FluxFillPipeline"),
    "canny": _flux_builder("canny", "FluxControlPipeline"),
    "depth": _flux_builder("depth", "FluxControlPipeline"),
    "kontext": _flux_builder("kontext", "FluxKontextPipeline"),
    "redux": _build_redux,
}
# Entries of the set that are not pipelines.
_AUX_BUILDERS: dict[str, Callable[[Path, SharedComponents], None]] = {
    DEPTH_ESTIMATOR: _build_depth_estimator,
}
DEV_KINDS: frozenset[str] = frozenset(_BUILDERS)


# --- the set on disk ----------------------------------------------------------------------------


# Builders seed torch's global RNG, which threads share: one in-process build at a time keeps the
# weights deterministic. Separate processes have their own RNG and race through the rename.
_BUILD_LOCK = threading.Lock()


def _entries() -> dict[str, Callable[[Path, SharedComponents], None]]:
    return {**_BUILDERS, **_AUX_BUILDERS}


def _marker_payload() -> dict[str, Any]:
    return {"version": DEV_SET_VERSION, "kinds": sorted(_entries())}


def is_complete(root: Path) -> bool:
    try:
        return json.loads((root / MARKER_NAME).read_text()) == _marker_payload()
    except (OSError, ValueError):
        return False


def _paths(root: Path) -> dict[str, Path]:
    return {kind: root / kind for kind in sorted(_entries())}


def ensure_dev_model_set(root: Path) -> dict[str, Path]:
    """Build the dev model set under `root` unless a complete one is there; return entry -> dir
    for every pipeline kind in DEV_KINDS plus DEPTH_ESTIMATOR.

    Safe against crashes and concurrent callers: each builder writes a private temporary sibling
    of `root` and renames it into place; a loser of the race discards its copy.
    """
    set_offline_env()
    root = Path(root)
    if is_complete(root):
        return _paths(root)
    with _BUILD_LOCK:
        if not is_complete(root):
            _build(root)
    return _paths(root)


# A build takes well under a second; a temporary directory this old was left by a killed builder.
_ABANDONED_AFTER_S = 600.0


def _build(root: Path) -> None:
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-", dir=root.parent))
    try:
        shared = build_shared_components()
        for kind, build in _entries().items():
            build(tmp / kind, shared)
        (tmp / MARKER_NAME).write_text(json.dumps(_marker_payload()))
        _install(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not is_complete(root):
        raise RuntimeError(f"dev model set at {root} is incomplete after building it")


def _remove_abandoned(root: Path) -> None:
    now = time.time()
    for pattern in (f".{root.name}.building-*", f".{root.name}.stale-*"):
        for path in root.parent.glob(pattern):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > _ABANDONED_AFTER_S:
                    shutil.rmtree(path, ignore_errors=True)


def _install(tmp: Path, root: Path) -> None:
    """Move a finished build to `root`, replacing a stale or partial set but never a good one."""
    if root.exists():
        if is_complete(root):
            return  # another builder won the race
        stale = root.with_name(f".{root.name}.stale-{uuid.uuid4().hex}")
        # FileNotFoundError: a concurrent builder moved it already.
        with contextlib.suppress(FileNotFoundError):
            root.rename(stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        tmp.rename(root)
    except OSError:
        # Lost a race to another builder between the check and the rename.
        if not is_complete(root):
            raise


# --- LoRA ---------------------------------------------------------------------------------------

# The module set of typical FLUX LoRA trainers. Attention projections alone barely move the dev
# model's output (their contribution is gated by small random modulation); the MLP and output
# projections make strength 1 vs 2 clearly visible. x_embedder is left out, as most trainers do:
# it is the one layer whose shape differs between the base and the fill/control transformers.
# A LoRA that does target it still loads into those (see fluxhost.engine.lora).
LORA_TARGET_MODULES = (
    "to_q",
    "to_k",
    "to_v",
    "to_out.0",
    "add_q_proj",
    "add_k_proj",
    "add_v_proj",
    "to_add_out",
    "ff.net.0.proj",
    "ff.net.2",
    "proj_mlp",
    "proj_out",
)


def make_dev_lora(
    base_dir: Path,
    out_file: Path,
    seed: int = 0,
    rank: int = 4,
    target_modules: Sequence[str] = LORA_TARGET_MODULES,
) -> Path:
    """Write a random LoRA for the dev `base` pipeline at `base_dir` to `out_file`.

    The file is the diffusers LoRA format (`FluxPipeline.save_lora_weights`), loadable with
    `FluxPipeline.load_lora_weights`. Unlike a freshly initialised LoRA (B = 0, a no-op), its B
    matrices are random too, so applying it visibly changes the output. It also applies to the
    fill, canny and depth transformers, whose targeted layers have the base shapes.
    """
    import torch
    from diffusers import FluxPipeline, FluxTransformer2DModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    set_offline_env()
    out_file = Path(out_file)
    with quiet_progress():
        transformer = FluxTransformer2DModel.from_pretrained(
            Path(base_dir) / "transformer", local_files_only=True
        )
    with _seeded(seed):
        transformer.add_adapter(
            LoraConfig(
                r=rank,
                lora_alpha=rank,
                init_lora_weights="gaussian",
                target_modules=list(target_modules),
            )
        )
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, param in transformer.named_parameters():
                if "lora_B" in name:
                    param.copy_(torch.randn(param.shape, generator=gen) * 0.1)
    state = get_peft_model_state_dict(transformer)

    out_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".lora-", dir=out_file.parent) as tmp, quiet_progress():
        FluxPipeline.save_lora_weights(
            tmp, transformer_lora_layers=state, weight_name="lora.safetensors"
        )
        os.replace(Path(tmp) / "lora.safetensors", out_file)
    return out_file
