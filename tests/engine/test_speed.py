"""Speed modes on the dev set (issue 20 item 2): First Block Cache skips transformer blocks
(counted by forward hooks on each block's attention, which a skipped block never calls) and
stays within a stated PSNR of the uncached output; at threshold 0 it is bit-identical; the
attention backend and regional compile draw what the defaults draw; each mode that cannot run
here is refused in one line naming the kind and the mode."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from fluxhost.engine import Engine, Fill, TextToImage, speed
from fluxhost.engine.modelset import dev_model_root
from fluxhost.engine.types import Interrupted
from fluxhost.modes import KindModes
from fluxhost.settings import Settings

# Enough steps for the first block's change between steps to fall under the threshold.
STEPS = 8
THRESHOLD = 0.3
# Stated bounds, measured on the dev set (float32, CPU): FBC at 0.3 base 58.3 dB, fill 64.8 dB;
# _native_math vs native and compiled vs eager agree to float32 rounding (> 80 dB).
FBC_MIN_PSNR = 40.0
SAME_MIN_PSNR = 60.0
CPU = torch.device("cpu")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def engine_with(make_engine_settings: Callable[..., Settings], engine_settings: Settings,
                dev_set: dict[str, Path],
                tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Engine]:
    """An Engine on the session's dev set with these settings (its pipelines its own)."""
    def make(**overrides: Any) -> Engine:
        data = tmp_path_factory.mktemp("speed-data")
        return Engine(make_engine_settings(data, dev_model_dir=dev_model_root(engine_settings),
                                           **overrides))

    return make


@pytest.fixture(scope="module")
def fill_request() -> Fill:
    rng = np.random.default_rng(0)
    image = Image.fromarray((rng.random((256, 256, 3)) * 255).astype(np.uint8))
    mask = Image.new("L", (256, 256), 0)
    mask.paste(255, (64, 64, 192, 192))
    return Fill("a cat", image, mask, 256, 256, STEPS, 30.0, 0)


def text_request() -> TextToImage:
    return TextToImage("a cat", 256, 256, STEPS, 3.5, 0)


def pixels(engine: Engine, request: Any, **kw: Any) -> np.ndarray:
    return np.asarray(engine.run(request, **kw))


@contextmanager
def block_calls(pipe: Any) -> Iterator[Counter[int]]:
    """Per block (in order), how many times its attention ran while the context is open."""
    calls: Counter[int] = Counter()
    blocks = [*pipe.transformer.transformer_blocks, *pipe.transformer.single_transformer_blocks]
    handles = [block.attn.register_forward_hook(
        lambda *_a, i=i: calls.update([i])) for i, block in enumerate(blocks)]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


@pytest.mark.parametrize("kind", ["base", "fill"])
def test_first_block_cache_skips_blocks_within_psnr(
        engine: Engine, engine_with: Callable[..., Engine], fill_request: Fill,
        kind: str) -> None:
    # FluxPipeline opens a cache context itself, FluxFillPipeline does not (speed.generation).
    request = text_request() if kind == "base" else fill_request
    cached = engine_with(first_block_cache=THRESHOLD)
    with block_calls(engine.load(kind)) as plain_calls:
        plain = pixels(engine, request)
    with block_calls(cached.load(kind)) as cached_calls:
        out = pixels(cached, request)
    n_blocks = len(plain_calls)
    assert dict(plain_calls) == dict.fromkeys(range(n_blocks), STEPS)
    assert cached_calls[0] == STEPS  # the first block always runs: it decides
    skipped = sum(STEPS - cached_calls[i] for i in range(1, n_blocks))
    assert skipped > 0, dict(cached_calls)
    assert FBC_MIN_PSNR <= psnr(plain, out) < float("inf")


def test_threshold_zero_is_bit_identical(engine: Engine, engine_with: Callable[..., Engine],
                                         fill_request: Fill) -> None:
    off = engine_with(first_block_cache=0.0)  # 0 = off: no hook at all
    assert not speed.caches(off.load("base"))
    assert np.array_equal(pixels(engine, text_request()), pixels(off, text_request()))
    # The hooks themselves at threshold 0 (never under it): every block runs, same pixels.
    from diffusers import FirstBlockCacheConfig

    hooked = engine_with()
    for kind, request in (("base", text_request()), ("fill", fill_request)):
        pipe = hooked.load(kind)
        pipe.transformer.enable_cache(FirstBlockCacheConfig(threshold=0.0))
        with block_calls(pipe) as calls:
            out = pixels(hooked, request)
        assert set(calls.values()) == {STEPS}
        assert np.array_equal(out, pixels(engine, request)), kind


def test_a_stopped_generation_leaves_no_cache_behind(engine_with: Callable[..., Engine]) -> None:
    cached = engine_with(first_block_cache=THRESHOLD)
    expected = pixels(engine_with(first_block_cache=THRESHOLD), text_request())
    done: list[int] = []
    with pytest.raises(Interrupted):
        cached.run(text_request(), on_step=lambda i, _n: done.append(i),
                   should_stop=lambda: len(done) >= 3)
    assert np.array_equal(pixels(cached, text_request()), expected)


def test_attention_backend_draws_what_native_draws(engine: Engine,
                                                   engine_with: Callable[..., Engine]) -> None:
    math = engine_with(attention_backend="_native_math")
    assert psnr(pixels(engine, text_request()), pixels(math, text_request())) >= SAME_MIN_PSNR


def test_compiled_blocks_draw_what_eager_draws(engine: Engine,
                                               engine_with: Callable[..., Engine]) -> None:
    compiled = engine_with(compile=True)
    pipe = compiled.load("base")
    blocks = speed.repeated_blocks(pipe.transformer)
    assert blocks and all(hasattr(b.forward, "_torchdynamo_orig_callable") for b in blocks)
    assert psnr(pixels(engine, text_request()), pixels(compiled, text_request())) \
        >= SAME_MIN_PSNR


def test_compile_under_the_cache_hooks(engine: Engine,
                                      engine_with: Callable[..., Engine]) -> None:
    """Both modes at once: the hooks wrap the compiled forwards (hooks inside a compiled graph
    do not fire, so the skips show in the pixels): what the cache alone draws, not what the
    uncached model draws."""
    both = engine_with(compile=True, first_block_cache=THRESHOLD)
    cached = engine_with(first_block_cache=THRESHOLD)
    out = pixels(both, text_request())
    assert psnr(pixels(cached, text_request()), out) >= SAME_MIN_PSNR
    assert psnr(pixels(engine, text_request()), out) < SAME_MIN_PSNR


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["flux2-dev", "klein-4b", "klein-9b-kv"])
def test_first_block_cache_refused_on_flux2(kind: str) -> None:
    pipeline = Settings(_env_file=None).kind_pipeline(kind)  # type: ignore[call-arg]
    assert pipeline is not None
    why = speed.refusal(kind, pipeline, KindModes(first_block_cache=0.1), CPU, torch.float32)
    assert why == (f"kind {kind!r}: first_block_cache=0.1 cannot run on the FLUX.2 {pipeline} "
                   "pipeline: diffusers' cache hook does not follow its single-stream last "
                   "block; set it to 0")


def test_compile_refused_without_a_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CXX", raising=False)
    why = speed.refusal("base", "base", KindModes(compile=True), CPU, torch.float32,
                        which=lambda _name: None)
    assert why is not None and why.startswith(
        "kind 'base': compile=true cannot run here: torch.compile on CPU builds C++ kernels "
        "and no compiler was found (g++, clang++, c++)")
    assert speed.refusal("base", "base", KindModes(compile=True), CPU, torch.float32) is None


@pytest.mark.parametrize(("backend", "needs"), [
    ("flash", "flash-attn"), ("sage", "sageattention"), ("xformers", "xformers"),
    ("_native_cudnn", "No viable backend"),
])
def test_attention_backend_missing_here_is_refused(backend: str, needs: str) -> None:
    why = speed.refusal("klein-4b", "klein", KindModes(attention_backend=backend), CPU,
                        torch.float32)
    assert why is not None
    assert why.startswith(f"kind 'klein-4b': attention_backend={backend} cannot run here: ")
    assert needs in why and "\n" not in why


@pytest.mark.parametrize("backend", ["native", "_native_math", "flex"])
def test_attention_backends_that_run_here_pass(backend: str) -> None:
    assert speed.refusal("base", "base", KindModes(attention_backend=backend), CPU,
                         torch.float32) is None
