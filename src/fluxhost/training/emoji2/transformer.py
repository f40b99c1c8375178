"""Stage `transformer`: the Flux2Transformer2DModel, trained by rectified flow with reference
images exactly as Flux2KleinPipeline feeds them.

One step draws one task for the whole batch (TASKS, by weight), so every sample of a batch has
the same number of reference tokens:

- `t2i_bank`: a training (object, colour) image; caption the composed one ("blue rocket"), or
  with P_BARE the bare object name ("rocket"), whose answer is then any of its colours;
- `t2i_native`: a native emoji with its own caption (every emoji not held out);
- `recolour`: reference (o, a), caption "make it b", target (o, b), a != b;
- `swap`: reference (o1, c), caption "turn it into a o2", target (o2, c);
- `combine`: references (o1, c1) and (o2, c2), caption "put them side by side", target both at
  half size (data.side_by_side), encoded by the VAE as the step draws it.

Every image and caption is a training combination (data.heldout never trains). With
P_DROP the caption becomes the empty prompt (references kept): the pipeline's guidance is true
CFG against "" with the same references.

Objective as Flux2KleinPipeline samples: target latents x0 (16 tokens x 64), noise n,
x_t = (1 - s) x0 + s n, prediction of n - x0 from the transformer called with
hidden_states = [x_t, reference tokens...], img_ids = [_prepare_latent_ids(x_t),
_prepare_image_ids(references) (time coordinate 10, 20, ...)], txt_ids = _prepare_text_ids,
timestep = s, no guidance; the loss reads the first 16 output tokens only. s is logit-normal
pushed toward noise by the shift the klein sampler uses for 16 tokens,
exp(compute_empirical_mu(16, 50)) = 4.9 (the klein training family's time_shift).

Why seeds mattered little in gen 1: one image per caption. A flow trained to convergence on a
one-to-one caption -> image map sends every noise to that image; the seed can only move what the
model has not learnt. Here a caption has several right answers (the bare object name: any of its
colours; the recoloured bank and the natives give some objects two looks), so the noise has
something to choose.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fluxhost.training.emoji import common
from fluxhost.training.emoji2 import coupling, data, decoder, encoders

SEED = 21
LR = 3e-4
WARMUP = 200
EMA_DECAY = 0.999
P_DROP = 0.1
P_BARE = 0.25
TOKENS = 16  # 64 px / 8 (VAE) / 2 (patchify), squared
TASKS = {"t2i_bank": 0.3, "t2i_native": 0.2, "recolour": 0.25, "swap": 0.15, "combine": 0.1}
# Phase 2, from step TUNE_FROM on (the steps before are phase 1, 0 to 8,476): a bare
# object name's noise is coupled to the colour it trains (coupling.py), bare names are about five
# times as frequent as in phase 1 (0.55 x 0.65 = 0.36 of samples, against 0.3 x 0.25), and half
# the coupled rows train at a sigma in TUNE_HIGH_SIGMA, where the colour is read from the noise
# (below it the colour is already in x_t). docs/emoji64.md ("Trial phases") has what each
# phase-2 variant did to seeds; this one is shipped (step 18,024).
TUNE_FROM = 8_476
TUNE_TASKS = {"t2i_bank": 0.55, "t2i_native": 0.12, "recolour": 0.2, "swap": 0.09,
              "combine": 0.04}
TUNE_P_BARE = 0.65
TUNE_P_HIGH = 0.5
TUNE_HIGH_SIGMA = (0.85, 1.0)


# One sample: target latents, reference latents, prompt, and its coupled noise (None: drawn
# independently).
Draw = tuple[Any, list[Any], str, Any]


def build_transformer() -> Any:
    from diffusers import Flux2Transformer2DModel

    return Flux2Transformer2DModel(
        patch_size=1, in_channels=64, num_layers=2, num_single_layers=4,
        attention_head_dim=64, num_attention_heads=4, joint_attention_dim=3 * encoders.WIDTH,
        timestep_guidance_channels=256, axes_dims_rope=(16, 16, 16, 16), guidance_embeds=False,
    )


def shift() -> float:
    from diffusers.pipelines.flux2.pipeline_flux2_klein import compute_empirical_mu

    return math.exp(compute_empirical_mu(TOKENS, 50))


def sample_sigmas(n: int, gen: Any) -> Any:
    import torch

    s = shift()
    t = torch.sigmoid(torch.randn(n, generator=gen))
    return s * t / (1 + (s - 1) * t)


def high_sigmas(sigma: Any, coupled: Any, gen: Any) -> Any:
    """sigma with TUNE_P_HIGH of the coupled rows redrawn uniformly in TUNE_HIGH_SIGMA."""
    import torch

    low, high = TUNE_HIGH_SIGMA
    redraw = coupled & (torch.rand(len(sigma), generator=gen) < TUNE_P_HIGH)
    uniform = low + (high - low) * torch.rand(len(sigma), generator=gen)
    return torch.where(redraw, uniform, sigma)


class Sampler:
    """Draws a task's batch: target latents, reference latents (B x 16k x 64 or None) and prompt
    rows, from the step's generator only."""

    def __init__(self, d: data.Data, latents: dict[str, Any], prompts: list[str],
                 vae: Any) -> None:
        self.d, self.latents, self.vae = d, latents, vae
        self.row = {p: i for i, p in enumerate(prompts)}
        held = d.heldout
        self.combos = [(o, c) for o in range(held.shape[0]) for c in range(held.shape[1])
                       if not held[o, c]]
        self.by_colour = {c: [o for o in range(held.shape[0]) if not held[o, c]]
                          for c in range(held.shape[1])}
        self.native_rows = [(i, caption) for i, caption in d.natives]
        self.tuning = False  # phase 2 (the training loop sets it from TUNE_FROM)
        self.axes = coupling.colour_axes(latents["bank"], held)
        self.psi: dict[tuple[int, ...], Any] = {}

    def bare_answer(self, o: int, gen: Any) -> tuple[int, Any]:
        """(colour, noise) for the bare name of object o: the noise drawn, the colour its cell."""
        import torch

        answers = tuple(c for c in range(self.d.heldout.shape[1]) if not self.d.heldout[o, c])
        axes = self.axes[list(answers)]
        if answers not in self.psi:
            self.psi[answers] = coupling.potentials(axes)
        noise = torch.randn(axes.shape[1], generator=gen)
        return answers[coupling.choose(noise, axes, self.psi[answers])], noise.view(TOKENS, -1)

    def pick(self, n: int, gen: Any) -> int:
        import torch

        return int(torch.randint(0, n, (1,), generator=gen))

    def combo(self, gen: Any) -> tuple[int, int]:
        return self.combos[self.pick(len(self.combos), gen)]

    def task(self, name: str, batch: int, gen: Any) -> tuple[Any, Any, list[int], Any, Any]:
        """(x0, references, prompt rows, noise, coupled): the noise is None unless some row's
        is coupled (`coupled` marks those rows; the others' noise is drawn here too)."""
        import torch

        draw: Callable[[Any], Draw] = getattr(self, "_" + name)
        targets, refs, rows, noises = [], [], [], []
        for _ in range(batch):
            target, references, prompt, noise = draw(gen)
            drop = float(torch.rand(1, generator=gen)) < P_DROP
            targets.append(target)
            refs.append(references)
            rows.append(0 if drop else self.row[prompt])
            noises.append(None if drop else noise)
        x0 = torch.stack(targets)
        ref = None if not refs[0] else torch.stack([torch.cat(r) for r in refs])
        coupled = torch.tensor([n is not None for n in noises])
        noise = None
        if bool(coupled.any()):
            noise = torch.stack([torch.randn(x0.shape[1:], generator=gen) if n is None else n
                                 for n in noises])
        return x0, ref, rows, noise, coupled

    def _t2i_bank(self, gen: Any) -> Draw:
        import torch

        o, c = self.combo(gen)
        bare = float(torch.rand(1, generator=gen)) < (TUNE_P_BARE if self.tuning else P_BARE)
        prompt = self.d.objects[o] if bare else self.d.captions[o][c]
        noise = None
        if bare and self.tuning:
            c, noise = self.bare_answer(o, gen)
        return self.latents["bank"][o, c], [], prompt, noise

    def _t2i_native(self, gen: Any) -> Draw:
        i, caption = self.native_rows[self.pick(len(self.native_rows), gen)]
        return self.latents["natives"][i], [], caption, None

    def _recolour(self, gen: Any) -> Draw:
        o, b = self.combo(gen)
        sources = [a for a in range(self.d.heldout.shape[1]) if a != b and not self.d.heldout[o, a]]
        a = sources[self.pick(len(sources), gen)]
        prompt = data.RECOLOUR.format(colour=data.COLOUR_NAMES[b])
        return self.latents["bank"][o, b], [self.latents["bank"][o, a]], prompt, None

    def _swap(self, gen: Any) -> Draw:
        o2, c = self.combo(gen)
        others = [o for o in self.by_colour[c] if o != o2]
        o1 = others[self.pick(len(others), gen)]
        prompt = data.SWAP.format(object=self.d.objects[o2])
        return self.latents["bank"][o2, c], [self.latents["bank"][o1, c]], prompt, None

    def _combine(self, gen: Any) -> Draw:
        from fluxhost.training.emoji2 import vae

        (o1, c1), (o2, c2) = self.combo(gen), self.combo(gen)
        both = data.side_by_side(self.d.bank[o1, c1], self.d.bank[o2, c2])
        target = vae.encode(self.vae, both[None])[0]
        refs = [self.latents["bank"][o1, c1], self.latents["bank"][o2, c2]]
        return target, refs, data.COMBINE, None


def ids(batch: int, n_refs: int, text_len: int) -> tuple[Any, Any]:
    """(img_ids, txt_ids) as Flux2KleinPipeline builds them for a 64x64 image + n_refs refs."""
    import torch
    from diffusers import Flux2KleinPipeline as P

    side = math.isqrt(TOKENS)
    img = P._prepare_latent_ids(torch.zeros(batch, 1, side, side))
    if n_refs:
        ref = P._prepare_image_ids([torch.zeros(1, 1, side, side)] * n_refs)
        img = torch.cat([img, ref.expand(batch, -1, -1)], dim=1)
    txt = P._prepare_text_ids(torch.zeros(batch, text_len, 1))
    return img, txt


def predict(model: Any, xt: Any, ref: Any, sigma: Any, embeds: Any) -> Any:
    n_refs = 0 if ref is None else ref.shape[1] // TOKENS
    img_ids, txt_ids = ids(xt.shape[0], n_refs, embeds.shape[1])
    import torch

    hidden = xt if ref is None else torch.cat([xt, ref], dim=1)
    out = model(hidden_states=hidden, timestep=sigma, guidance=None,
                encoder_hidden_states=embeds, txt_ids=txt_ids, img_ids=img_ids,
                return_dict=False)[0]
    return out[:, :TOKENS]


def train(work: Path, budget: common.Budget, batch: int, limit: int | None = None) -> None:
    import torch

    from fluxhost.training.emoji2 import vae as vae_stage

    d = data.build(work, limit)
    text = encoders.build(work, d.prompts())
    vae, latents = vae_stage.build(work, d)
    sampler = Sampler(d, latents, text["prompts"], vae)
    embeds = text["embeds"]
    out = common.stage_dir(work, "transformer")
    torch.manual_seed(SEED)
    model = build_transformer().train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    gen = torch.Generator().manual_seed(SEED)
    start = common.resume(out, "transformer", model, ema, opt, gen)
    print(f"transformer: {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{len(sampler.combos)} training combinations, {len(d.natives)} natives", flush=True)
    names = list(TASKS)
    mixes = [torch.tensor([mix[n] for n in names]) for mix in (TASKS, TUNE_TASKS)]

    def step_fn(step: int) -> float:
        sampler.tuning = step >= TUNE_FROM
        task = names[int(torch.multinomial(mixes[sampler.tuning], 1, generator=gen))]
        x0, ref, rows, noise, coupled = sampler.task(task, batch, gen)
        sigma = sample_sigmas(batch, gen)
        if noise is None:
            noise = torch.randn(x0.shape, generator=gen)
        else:
            sigma = high_sigmas(sigma, coupled, gen)
        return common.flow_step(
            model, opt, ema, step, x0, sigma, noise,
            lambda xt: predict(model, xt, ref, sigma, embeds[rows].float()),
            lr=LR, warmup=WARMUP, ema_decay=EMA_DECAY)

    save_fn, log_fn = common.stage_callbacks(out, model, ema, opt, gen)

    common.run_loop(budget, start, step_fn, save_fn, log_fn)


def pipeline(work: Path) -> Any:
    """Flux2KleinPipeline (unchanged) on the latest checkpoint's EMA transformer, float32."""
    from diffusers import Flux2KleinPipeline
    from transformers import PreTrainedTokenizerFast, Qwen3ForCausalLM

    from fluxhost.engine.families.flux2.dev_components import build_scheduler

    state = common.require_checkpoint(work, "transformer")
    model = build_transformer()
    model.load_state_dict(state["ema"])
    root = work / "encoders"
    return Flux2KleinPipeline(
        scheduler=build_scheduler(),
        vae=decoder.load_vae(work),
        text_encoder=Qwen3ForCausalLM.from_pretrained(root / "text_encoder"),
        tokenizer=PreTrainedTokenizerFast.from_pretrained(root / "tokenizer"),
        transformer=model.eval().requires_grad_(False),
        is_distilled=False,
    )
