"""Real-size step time and memory without the hub (issue 20 item 4).

    .venv/bin/python bench/real_size.py --quick          # klein-4b, 256x256, 2 steps, none + int8
    .venv/bin/python bench/real_size.py --model flux1-dev --model klein-9b --size 1024 \\
        --steps 4 --mode none --mode int8 --device cuda

Builds each transformer from its published config (fluxhost.engine.memory.published, sources
cited there) on the meta device, then materialises it block by block on the target device with
random weights (to_empty + init; a quantized mode quantizes each block as it is made, so the
peak is the quantized model plus one block), and runs it through the real diffusers pipeline
(FluxPipeline, Flux2KleinPipeline, Flux2Pipeline) with its real-size VAE (random weights too) at
the given size and steps: the same FLOPs and bytes as the released weights. The text encoders
are NOT built (T5-XXL, Qwen3, Mistral Small: up to 48 GB): the pipeline gets random prompt
embeddings of the transformer's text width and 512 tokens, as its encoder would hand it.

Each (model, mode) runs in a process of its own, so one's memory does not inflate the next's
peak; the table: seconds per denoising step (the mean over the steps, the first included),
seconds per image (the whole call, VAE decode included), the transformer's weight bytes, and
peak memory (CPU: the process's peak RSS, imports and all; CUDA: torch.cuda.max_memory_allocated).
Random weights draw noise: these are speed and memory figures, not images.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

# Bench name -> (fluxhost kind in the published data, diffusers pipeline class).
MODELS = {
    "flux1-dev": ("base", "FluxPipeline"),
    "klein-4b": ("klein-4b", "Flux2KleinPipeline"),
    "klein-9b": ("klein-9b", "Flux2KleinPipeline"),
    "flux2-dev": ("flux2-dev", "Flux2Pipeline"),
}
MODES = ("none", "int8", "float8")
TEXT_TOKENS = 512  # what the pipelines' encoders hand the transformer (max_sequence_length)
CLIP_WIDTH = 768  # FLUX.1's pooled CLIP embedding
# FLUX.1's VAE latent scaling (its vae/config.json), which the memory plan's data leaves out.
VAE_SCALING = {"AutoencoderKL": {"scaling_factor": 0.3611, "shift_factor": 0.1159}}
GB = 1e9


# --- one configuration, in its own process ----------------------------------------------------

def build_transformer(kind: str, device: Any, dtype: Any, mode: str) -> Any:
    """The published transformer of `kind`, materialised piece by piece on `device`."""
    import diffusers
    import torch

    from fluxhost.engine.memory.published import KIND_MODELS

    published = KIND_MODELS[kind]["transformer"]
    cls = getattr(diffusers, published.class_name)
    with torch.device("meta"):
        model = cls.from_config(published.config)
    for piece in pieces(model):
        piece.to_empty(device=device)
        init_random(piece, dtype)
        if mode != "none":
            quantize(piece, mode)
    left = [name for name, t in [*model.named_parameters(), *model.named_buffers()]
            if t.is_meta]
    if left:
        raise RuntimeError(f"not materialised: {left[:5]}")
    return model.eval().requires_grad_(False)


def pieces(model: Any) -> list[Any]:
    """The model's top-level children, a ModuleList's blocks one by one: what is materialised
    (and quantized) at a time."""
    import torch

    found = []
    for child in model.children():
        found += list(child) if isinstance(child, torch.nn.ModuleList) else [child]
    return found


def init_random(module: Any, dtype: Any) -> None:
    """Weights ~ N(0, 1/fan_in) (activations keep their scale through the blocks, so nothing
    overflows bf16), norm scales 1, biases 0; in `dtype`."""
    import torch

    module.to(dtype)
    gen = torch.Generator(device="cpu").manual_seed(0)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim >= 2:
                fan_in = p[0].numel()
                cpu = torch.randn(p.shape, generator=gen, dtype=torch.float32) * fan_in ** -0.5
                p.copy_(cpu.to(p.dtype))
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.fill_(1.0)


def quantize(module: Any, mode: str) -> None:
    """torchao weight-only, as fluxhost's memory modes load it (fluxhost.engine.quantize)."""
    import torch
    from torchao import quantization

    from fluxhost.engine.quantize import TORCHAO_CONFIGS

    if any(isinstance(m, torch.nn.Linear) for m in module.modules()):
        quantization.quantize_(module, getattr(quantization, TORCHAO_CONFIGS[mode])())


def build_vae(kind: str, device: Any, dtype: Any) -> Any:
    import diffusers
    import torch

    from fluxhost.engine.memory.published import KIND_MODELS

    published = KIND_MODELS[kind]["vae"]
    torch.manual_seed(0)
    config = {**published.config, **VAE_SCALING.get(published.class_name, {})}
    vae = getattr(diffusers, published.class_name).from_config(config)
    return vae.to(device=device, dtype=dtype).eval().requires_grad_(False)


def pipeline(kind: str, class_name: str, transformer: Any, vae: Any) -> Any:
    import diffusers
    from diffusers import FlowMatchEulerDiscreteScheduler

    from fluxhost.engine.families.flux2.dev_components import SCHEDULER_CONFIG

    scheduler = FlowMatchEulerDiscreteScheduler(**SCHEDULER_CONFIG)
    parts: dict[str, Any] = {"scheduler": scheduler, "vae": vae, "transformer": transformer,
                             "text_encoder": None, "tokenizer": None}
    if class_name == "FluxPipeline":
        parts |= {"text_encoder_2": None, "tokenizer_2": None}
    if class_name == "Flux2KleinPipeline":
        parts["is_distilled"] = True  # the released klein: 4 steps, no CFG
    pipe = getattr(diffusers, class_name)(**parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def embeddings(class_name: str, transformer: Any, device: Any, dtype: Any) -> dict[str, Any]:
    """Random prompt embeddings of the width the transformer reads, TEXT_TOKENS long."""
    import torch

    gen = torch.Generator(device="cpu").manual_seed(1)
    width = transformer.config.joint_attention_dim
    embeds = {"prompt_embeds": torch.randn(1, TEXT_TOKENS, width, generator=gen)}
    if class_name == "FluxPipeline":
        embeds["pooled_prompt_embeds"] = torch.randn(1, CLIP_WIDTH, generator=gen)
    return {k: v.to(device=device, dtype=dtype) for k, v in embeds.items()}


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_grad_enabled(False)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    kind, class_name = MODELS[args.model]
    started = time.perf_counter()
    transformer = build_transformer(kind, device, dtype, args.mode)
    pipe = pipeline(kind, class_name, transformer, build_vae(kind, device, dtype))
    built = time.perf_counter() - started
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    stamps: list[float] = []

    def on_step(_p: Any, _i: int, _t: Any, _kw: dict[str, Any]) -> dict[str, Any]:
        stamps.append(time.perf_counter())
        return {}

    guidance = 1.0 if class_name == "Flux2KleinPipeline" else 3.5
    start = time.perf_counter()
    pipe(**embeddings(class_name, transformer, device, dtype), width=args.size,
         height=args.size, num_inference_steps=args.steps, guidance_scale=guidance,
         generator=torch.Generator("cpu").manual_seed(0), output_type="pil",
         callback_on_step_end=on_step)
    total = time.perf_counter() - start
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    steps = [b - a for a, b in zip([start, *stamps], stamps, strict=False)]
    return {"model": args.model, "mode": args.mode, "size": args.size, "steps": args.steps,
            "device": args.device, "dtype": args.dtype, "build_s": built,
            "s_per_step": sum(steps) / len(steps), "s_per_image": total,
            "weights_gb": weight_bytes(transformer) / GB, "peak_gb": peak_bytes(device) / GB}


def weight_bytes(model: Any) -> int:
    """Bytes the transformer's weights occupy (a torchao tensor's int8 data and scales)."""
    total = 0
    for p in [*model.parameters(), *model.buffers()]:
        inner = getattr(p, "__tensor_flatten__", None)
        if inner is None:
            total += p.numel() * p.element_size()
            continue
        names, _ = inner()
        total += sum(tensor_bytes(getattr(p, n)) for n in names)
    return total


def tensor_bytes(t: Any) -> int:
    inner = getattr(t, "__tensor_flatten__", None)
    if inner is None:
        return int(t.numel() * t.element_size())
    names, _ = inner()
    return sum(tensor_bytes(getattr(t, n)) for n in names)


def peak_bytes(device: Any) -> int:
    if device.type == "cuda":
        import torch

        return int(torch.cuda.max_memory_allocated(device))
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


# --- the table ---------------------------------------------------------------------------------

def run_child(args: argparse.Namespace, model: str, mode: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--model", model, "--mode", mode,
           "--size", str(args.size), "--steps", str(args.steps), "--device", args.device,
           "--dtype", args.dtype]
    done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"model": model, "mode": mode, "error": f"exit {done.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| model | mode | size | steps | s/step | s/image | weights GB | peak GB |\n"
            "|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['mode']} | | | {r['error']} | | | |")
            continue
        lines.append(f"| {r['model']} | {r['mode']} | {r['size']}² | {r['steps']} | "
                     f"{r['s_per_step']:.2f} | {r['s_per_image']:.2f} | "
                     f"{r['weights_gb']:.2f} | {r['peak_gb']:.2f} |")
    return "\n".join(lines)


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", choices=sorted(MODELS))
    p.add_argument("--mode", action="append", choices=MODES)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--device", default="cuda" if _has_cuda() else "cpu")
    p.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16", "float32"))
    p.add_argument("--quick", action="store_true",
                   help="klein-4b at 256x256, 2 steps, none and int8 (what a CPU box can do)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.model, args.mode = args.model or ["klein-4b"], args.mode or ["none", "int8"]
        args.size, args.steps = 256, 2
    args.model, args.mode = args.model or ["klein-4b"], args.mode or ["none"]
    if args.child:
        args.model, args.mode = args.model[0], args.mode[0]
    return args


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def main() -> None:
    args = parse()
    if args.child:
        print(json.dumps(run_one(args)), flush=True)
        return
    print(f"real-size transformers and VAEs with random weights on {args.device} "
          f"({args.dtype}); text encoders not built: random {TEXT_TOKENS}-token prompt "
          "embeddings of each transformer's text width stand in for them", flush=True)
    rows = []
    for model in args.model:
        for mode in args.mode:
            rows.append(run_child(args, model, mode))
            print(json.dumps(rows[-1]), flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
