"""What to change when the configured weights do not fit the device, each option checked
against the same arithmetic (fluxhost.engine.memory.plan); and, with several GPUs, how to use
them: one worker per GPU when the set fits one, else its components placed across them."""

from __future__ import annotations

from collections.abc import Sequence

from fluxhost.engine.memory.plan import (
    WORKING_BYTES,
    Device,
    Part,
    fmt,
    need_on_device,
    requantized,
    unique,
)


def advice(parts: Sequence[Part], device: Device, offload: str) -> str | None:
    """One line when `parts` do not fit `device` with `offload`: what they need, what it has,
    and the first quantization and the first offload that would fit; None when they fit."""
    need = need_on_device(parts, offload if device.cuda else "none")
    if need <= device.total:
        return None
    where = f"this GPU ({device.name})" if device.cuda else "this machine's RAM"
    head = f"needs {fmt(need)}, {where} has {fmt(device.total)}"
    fixes = [fix for group in (_quantizations(parts, device, offload),
                               _offloads(parts, device, offload))
             for fix in group[:1]]
    if not fixes:
        return f"{head}: no memory mode makes it fit; serve fewer kinds or a larger device"
    return f"{head}: {' or '.join(fixes)}"


def _quantizations(parts: Sequence[Part], device: Device, offload: str) -> list[str]:
    q = "float8" if device.float8 else "int8"
    candidates = [(f"quantize the transformer to {q} (FLUXHOST_TRANSFORMER_QUANT={q}", q, None),
                  (f"quantize the transformer and the text encoders to {q} "
                   f"(FLUXHOST_TRANSFORMER_QUANT={q}, FLUXHOST_TEXT_ENCODER_QUANT={q}", q, q)]
    if device.cuda:
        candidates += [("quantize the transformer to nf4 (FLUXHOST_TRANSFORMER_QUANT=nf4",
                        "nf4", None),
                       ("quantize the transformer and the text encoders to nf4 "
                        "(FLUXHOST_TRANSFORMER_QUANT=nf4, FLUXHOST_TEXT_ENCODER_QUANT=nf4",
                        "nf4", "nf4")]
    mode = offload if device.cuda else "none"
    fits = []
    for text, transformer, encoders in candidates:
        need = need_on_device(requantized(parts, transformer, encoders), mode)
        if need <= device.total:
            fits.append(f"{text}: {fmt(need)})")
    return fits


def _offloads(parts: Sequence[Part], device: Device, offload: str) -> list[str]:
    if not device.cuda:
        return []
    fits = []
    for mode, note in (("model", "one model on the GPU at a time"),
                       ("sequential", "one layer at a time, slowest")):
        need = need_on_device(parts, mode)
        if mode != offload and need <= device.total:
            fits.append(f"set FLUXHOST_CPU_OFFLOAD={mode} ({note}: {fmt(need)})")
    return fits


def place(parts: Sequence[Part], gpus: Sequence[Device]) -> dict[str, str] | None:
    """Each distinct component (by label) -> the GPU it goes on, largest first onto the card
    with the most room (whole components, as diffusers' device_map="balanced" places them);
    None when they do not fit the cards together."""
    room = {g.name: g.total - WORKING_BYTES for g in gpus}
    placed: dict[str, str] = {}
    for part in sorted(unique(parts), key=lambda p: -p.bytes):
        name = max(room, key=lambda n: room[n])
        if part.bytes > room[name]:
            return None
        room[name] -= part.bytes
        placed[f"{part.kind} {part.label}"] = name
    return placed


def multi_gpu(parts: Sequence[Part], gpus: Sequence[Device]) -> str | None:
    """With several GPUs: one worker per GPU when the set fits each, else a placement across
    them (FLUXHOST_DEVICE_MAP=balanced), else None (the single-GPU advice stands)."""
    if len(gpus) < 2:
        return None
    need = need_on_device(parts, "none")
    if all(need <= g.total for g in gpus):
        commands = ", ".join(f"fluxhost worker --device {g.name}" for g in gpus)
        return f"{len(gpus)} GPUs, each fits the set ({fmt(need)}): one worker per GPU: {commands}"
    placed = place(parts, gpus)
    if placed is None:
        return None
    cards = sorted(set(placed.values()))
    where = "; ".join(f"{label} -> {gpu}" for label, gpu in placed.items())
    return (f"does not fit one GPU, fits across {', '.join(cards)} with "
            f"FLUXHOST_DEVICE_MAP=balanced (one worker for them all): {where}")
