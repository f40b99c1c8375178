"""An attention backend stays on the model it was set on (engine/speed.py: set_backend).

diffusers' set_attention_backend also makes the backend process-wide, and every other model
runs it: after the start-up probe of flex (speed.refusal), a klein LoRA's training step failed
with flex's 'does not support backward on CPU' (the full suite, one xdist process running
tests/engine/test_speed.py before tests/training/test_klein_trainer.py). flex is the witness
here for that reason: a backward through it on CPU raises, through native it runs.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch

from fluxhost.engine import speed
from fluxhost.modes import KindModes

CPU = torch.device("cpu")


def _backward(model: Any) -> None:
    """One training step's backward through `model` (inputs that need gradients)."""
    inputs = speed.probe_inputs(CPU, torch.float32)
    inputs["hidden_states"] = torch.randn(1, 4, 4, requires_grad=True)
    out = model.train()(**inputs)[0]
    out.sum().backward()


def test_probing_a_backend_leaves_other_models_on_native() -> None:
    assert speed.backend_problem("flex", CPU, torch.float32) is None
    _backward(speed.probe_model())


def test_a_kinds_backend_is_its_transformers_only() -> None:
    flexed, other = speed.probe_model(), speed.probe_model()
    speed.apply(SimpleNamespace(transformer=flexed), KindModes(attention_backend="flex"))
    with pytest.raises(NotImplementedError, match="backward on CPU"):
        _backward(flexed)  # the backend is set where it was asked for
    _backward(other)
