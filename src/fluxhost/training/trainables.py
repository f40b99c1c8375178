"""What trains, per finetune type, and how it becomes a LoRA state dict.

- `lora`: a peft adapter (r = alpha = lora_rank, so the scale is 1, as diffusers assumes for files
  without alphas) on the family's LoRA target modules -- the module list of the engine's dev LoRA
  and of the usual FLUX LoRA trainers. Only the adapter trains; in half precision its weights are
  kept in float32 (peft casts the activations) so small Adam updates are not rounded away.
- `full`: the weights of every Linear layer those modules name train directly (the rest of the
  model -- norms, modulation, embedders -- stays frozen: a LoRA on these modules could not carry
  their change anyway). After training, each layer's change W_new - W_old is factored by SVD and
  truncated to rank r: lora_B = U_r sqrt(S_r), lora_A = sqrt(S_r) V_r^T, the best rank-r
  approximation of the change (Eckart-Young), written with the same key names as a peft-trained
  LoRA. A layer narrower than r is zero-padded so every adapter has exactly rank r. In bf16/fp16
  the trained weights get float32 master copies (classic mixed precision), again so lr 1e-5
  updates are not lost to bf16's 8-bit mantissa.
  ESTIMATE, not measured (no GPU run; parameter counts from the FLUX.1-dev config built on the
  meta device): the transformer has 11.9 B parameters, 7.17 B of them in the 381 targeted
  Linears. bf16 model 23.8 GB + float32 masters 28.7 GB + AdamW's two float32 moments 57.4 GB +
  float32 gradients 28.7 GB (the bf16 ones, 14.3 GB, are freed as they are converted) = ~139 GB
  of accelerator memory before activations (gradient checkpointing is on for CUDA; a few GB at
  1024²), plus the original weights for the SVD in host memory (14.3 GB). Pure bf16 weights,
  gradients and moments would be ~67 GB but lose small updates. So `full` on real FLUX does not
  fit one 80 GB H100 and at best barely fits a 141 GB H200; it wants several GPUs or an
  8-bit/offloaded optimizer. `lora` at rank 32 trains 112 M parameters (1.8 GB with float32
  states) next to the 23.8 GB bf16 model: ~30 GB.

torch and peft are imported inside functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fluxhost.engine.rng import seeded

if TYPE_CHECKING:
    import torch


class Trainable:
    params: list[Any]

    def before_step(self) -> None:
        """After backward, before clipping and the optimizer step."""

    def after_step(self) -> None:
        """After the optimizer step."""

    def lora_state_dict(self, rank: int) -> dict[str, Any]:
        """peft-style keys (no `transformer.` prefix) -> CPU tensors."""
        raise NotImplementedError


class LoraTrainable(Trainable):
    def __init__(self, transformer: Any, targets: Sequence[str], rank: int, seed: int,
                 device: Any) -> None:
        import torch
        from peft import LoraConfig

        self.transformer = transformer
        self.dtype = transformer.dtype
        config = LoraConfig(
            r=rank,
            lora_alpha=rank,
            init_lora_weights=True,  # A kaiming-uniform, B = 0: training starts at the base model
            target_modules=list(targets),
        )
        with seeded(seed, device):
            transformer.add_adapter(config)
        self.params = [p for p in transformer.parameters() if p.requires_grad]
        if self.dtype != torch.float32:
            for p in self.params:
                p.data = p.data.float()

    def lora_state_dict(self, rank: int) -> dict[str, Any]:
        from peft.utils import get_peft_model_state_dict

        state = get_peft_model_state_dict(self.transformer)
        # Saved in the model's dtype: a bf16 FLUX LoRA is half the size and loads the same.
        return {k: v.detach().to("cpu", self.dtype).contiguous() for k, v in state.items()}


class FullTrainable(Trainable):
    def __init__(self, transformer: Any, targets: Sequence[str]) -> None:
        import torch

        self.layers = targeted_linears(transformer, targets)
        if not self.layers:
            raise ValueError("the transformer has none of the LoRA target modules")
        self.dtype = transformer.dtype
        self.weights = [module.weight for _, module in self.layers]
        on_gpu = self.weights[0].device.type != "cpu"
        # The starting point, for the SVD at the end; in host memory on an accelerator (17 GB
        # for FLUX.1-dev in bf16).
        self.originals = [
            w.detach().to("cpu", copy=True) if on_gpu else w.detach().clone() for w in self.weights
        ]
        for w in self.weights:
            w.requires_grad_(True)
        self.mixed = self.dtype != torch.float32
        if self.mixed:
            self.params = [w.detach().float().requires_grad_(True) for w in self.weights]
        else:
            self.params = self.weights

    def before_step(self) -> None:
        if self.mixed:
            for master, w in zip(self.params, self.weights, strict=True):
                master.grad = None if w.grad is None else w.grad.float()
                w.grad = None

    def after_step(self) -> None:
        if self.mixed:
            import torch

            with torch.no_grad():
                for master, w in zip(self.params, self.weights, strict=True):
                    w.copy_(master)

    def lora_state_dict(self, rank: int) -> dict[str, Any]:
        import torch

        state: dict[str, Any] = {}
        with torch.no_grad():
            for (name, _), trained, original in zip(
                self.layers, self.params, self.originals, strict=True
            ):
                delta = trained.detach().float() - original.to(trained.device).float()
                lora_b, lora_a = low_rank(delta, rank)
                state[f"{name}.lora_A.weight"] = lora_a.to("cpu", self.dtype).contiguous()
                state[f"{name}.lora_B.weight"] = lora_b.to("cpu", self.dtype).contiguous()
        return state


def targeted_linears(transformer: Any, targets: Sequence[str]) -> list[tuple[str, Any]]:
    """(name, module) of the Linear layers `targets` selects, matched the way peft matches a
    list of names (the full name or a dotted suffix of it)."""
    import torch

    return [
        (name, module)
        for name, module in transformer.named_modules()
        if isinstance(module, torch.nn.Linear)
        and any(name == t or name.endswith("." + t) for t in targets)
    ]


def low_rank(delta: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, A), B (out, rank) and A (rank, in), with B @ A the best rank-`rank` approximation of
    `delta` (out, in); the singular values are split evenly (sqrt) so neither factor dwarfs the
    other. Zero-padded when the layer's rank is below `rank`."""
    import torch

    u, s, vh = torch.linalg.svd(delta, full_matrices=False)
    keep = min(rank, s.shape[0])
    root = s[:keep].sqrt()
    lora_b = torch.zeros(delta.shape[0], rank, dtype=delta.dtype, device=delta.device)
    lora_a = torch.zeros(rank, delta.shape[1], dtype=delta.dtype, device=delta.device)
    lora_b[:, :keep] = u[:, :keep] * root
    lora_a[:keep] = root[:, None] * vh[:keep]
    return lora_b, lora_a
