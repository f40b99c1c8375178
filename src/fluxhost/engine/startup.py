"""What a serving process checks and says before it takes a task: every configured kind's
memory and speed modes can run on this device (else one line naming the kind, the mode and
why, and the process stops), and the memory plan (logged; `fluxhost doctor` prints it)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fluxhost.engine import quantize, speed
from fluxhost.engine.modelset import configured_kinds, torch_device, torch_dtype
from fluxhost.engine.quantize import DeviceKind, ModeUnavailable

if TYPE_CHECKING:
    import torch

    from fluxhost.settings import Settings

log = logging.getLogger("fluxhost.memory")


def refusals(settings: Settings) -> list[str]:
    """Each reason a configured mode cannot run here (one line each), the kinds sorted."""
    device, dtype = torch_device(settings), torch_dtype(settings)
    found = [why for why in (_device_problem(device), _placement_problem(settings, device.type))
             if why]
    if found and found[0].startswith("device "):
        return found  # modes are judged on the device: one that is not there says nothing
    for kind in sorted(configured_kinds(settings)):
        modes = settings.modes_for(kind)
        pipeline = settings.kind_pipeline(kind) or kind
        for why in (quantize.refusal(kind, modes, DeviceKind.of(device)),
                    speed.refusal(kind, pipeline, modes, device, dtype)):
            if why is not None:
                found.append(why)
    return found


def _device_problem(device: torch.device) -> str | None:
    """A CUDA device that is not there (no GPU visible, or cuda:N past the last one)."""
    import torch

    if device.type != "cuda":
        return None
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if (device.index or 0) >= count:
        return (f"device {device} is not there: this machine shows {count} CUDA GPU(s) "
                f"(torch {torch.__version__})")
    return None


def _placement_problem(settings: Settings, device_type: str) -> str | None:
    if settings.device_map == "none":
        return None
    import torch

    gpus = torch.cuda.device_count() if device_type == "cuda" else 0
    if gpus < 2:
        return (f"device_map={settings.device_map} places a pipeline across several GPUs; "
                f"this machine has {gpus} (device {device_type}): set it to none")
    if settings.cpu_offload != "none":
        return (f"device_map={settings.device_map} and cpu_offload={settings.cpu_offload} "
                "both place the models: set one of them to none")
    return None


def check(settings: Settings) -> None:
    """ModeUnavailable with the first refusal, if any."""
    found = refusals(settings)
    if found:
        raise ModeUnavailable(found[0])


def log_plan(settings: Settings) -> None:
    """The memory plan of configured weights, one log line each (a warning when it does not
    fit); nothing for the dev set and the emoji demo, whose sizes say nothing. A plan that
    cannot be made (an unreadable config) is one warning: it never stops the start."""
    if settings.uses_dev_models or settings.uses_demo_models:
        return
    from fluxhost.engine.memory.report import report

    try:
        lines, fits = report(settings)
    except Exception as exc:  # a plan is advice: never a reason not to serve
        log.warning("memory plan unavailable: %s", exc)
        return
    for line in lines:
        log.log(logging.INFO if fits else logging.WARNING, line)
