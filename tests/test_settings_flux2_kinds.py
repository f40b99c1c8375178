"""FLUX.2's kinds in the settings: the four built-in ones name their weights and run one of three
pipelines; operators define kinds of their own on those pipelines and move the FLUX.2 endpoints
among them, as for FLUX.1; every mistake is refused at start, naming the bad value."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from fluxhost import catalog
from fluxhost.kinds import FLUX2_KINDS, FLUX2_PIPELINES, WORKER_KINDS
from fluxhost.settings import Settings
from fluxhost.shipped import DEMO_ROOT

FLUX2_ENDPOINTS = [e.name for e in catalog.ENDPOINTS if e.name.startswith("flux-2-")]


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_the_built_in_kinds_and_their_pipelines() -> None:
    assert FLUX2_KINDS == {"flux2-dev": "flux2", "klein-4b": "klein", "klein-9b": "klein",
                           "klein-9b-kv": "klein-kv"}
    s = settings(models={"klein-4b": "/models/klein-4b", "flux2-dev": "/models/flux2-dev"})
    assert s.kind_pipeline("klein-4b") == "klein" and s.kind_pipeline("flux2-dev") == "flux2"
    assert s.kind_pipeline("klein") is None  # a pipeline, not a kind
    assert s.custom_kinds() == {}
    assert s.served_kinds() == {"klein-4b", "flux2-dev"}
    assert set(FLUX2_KINDS) <= set(WORKER_KINDS)


def test_the_default_endpoint_kinds() -> None:
    kinds = {name: settings().endpoint_kind(name) for name in FLUX2_ENDPOINTS}
    assert kinds == {"flux-2-pro": "flux2-dev", "flux-2-pro-preview": "flux2-dev",
                     "flux-2-max": "flux2-dev", "flux-2-flex": "flux2-dev",
                     "flux-2-klein-4b": "klein-4b", "flux-2-klein-9b": "klein-9b",
                     "flux-2-klein-9b-preview": "klein-9b-kv",
                     "flux-2-klein-4b-finetuned": "klein-4b",
                     "flux-2-klein-9b-finetuned": "klein-9b"}
    for name in FLUX2_ENDPOINTS:  # any FLUX.2 pipeline serves any FLUX.2 endpoint
        assert catalog.get(name).pipelines == FLUX2_PIPELINES


def test_a_kind_may_carry_its_steps_and_guidance() -> None:
    s = settings(models={"klein-4b": {"pipeline": "klein", "source": "/m/kb", "steps": 50,
                                      "guidance": 4}, "flux2-dev": "/m/d"})
    assert s.kind_steps_guidance("klein-4b") == (50, 4.0)
    assert s.kind_steps_guidance("flux2-dev") == (None, None)
    assert s.model_sources() == {"klein-4b": "/m/kb", "flux2-dev": "/m/d"}


def test_the_dev_set_serves_them_and_the_emoji_demo_its_klein() -> None:
    assert set(FLUX2_KINDS) <= settings().served_kinds()
    demo = settings(model_set="emoji")
    assert demo.uses_demo_models and demo.model_sources()["klein-4b"] == str(DEMO_ROOT / "klein")
    # No FLUX.2 [dev] and no KV-cache kind: their endpoints move to the demo's klein kinds.
    assert demo.served_kinds() == {"base", "fill", "klein-4b", "klein-9b"}
    assert {demo.endpoint_kind(name) for name in FLUX2_ENDPOINTS} == {"klein-4b", "klein-9b"}


def test_operator_kinds_on_flux2_pipelines() -> None:
    s = settings(models={"klein-4b": "/m/k4", "my-klein": {"pipeline": "klein", "source": "/m/k"},
                         "my-dev": {"pipeline": "flux2", "source": "/m/d"}},
                 endpoint_kinds={"flux-2-pro": "my-klein", "flux-2-klein-9b": "my-dev",
                                 "flux-2-max": "klein-4b"},
                 worker_kinds="my-klein,klein-4b,klein-9b-kv")
    assert s.custom_kinds() == {"my-klein": "klein", "my-dev": "flux2"}
    assert s.endpoint_kind("flux-2-pro") == "my-klein"
    assert s.endpoint_kind("flux-2-max") == "klein-4b"  # a built-in kind of another pipeline
    assert s.served_kinds() == {"klein-4b", "my-klein", "my-dev"}


@pytest.mark.parametrize(("values", "message"), [
    ({"models": {"klein-4b": {"pipeline": "flux2", "source": "/m"}}},
     "kind 'klein-4b' is built in and runs the klein pipeline, not 'flux2'"),
    ({"models": {"mine": {"pipeline": "klein-9b", "source": "/m"}}}, "pipeline"),
    ({"endpoint_kinds": {"flux-2-pro": "base"}},
     "flux-2-pro cannot run on kind 'base' (a base pipeline); it needs one of: flux2, klein, "
     "klein-kv"),
    ({"endpoint_kinds": {"flux-dev": "klein-4b"}},
     "flux-dev cannot run on kind 'klein-4b' (a klein pipeline); it needs one of: base, "
     "kontext"),
    ({"models": {"mine": {"pipeline": "klein", "source": "/m"}},
      "endpoint_kinds": {"flux-pro-1.0-fill": "mine"}}, "it needs one of: fill"),
    ({"endpoint_kinds": {"flux-2-pro": "klein-5b"}}, "unknown kind 'klein-5b' for flux-2-pro"),
    ({"worker_kinds": "klein-4b,klein-5b"}, "unknown kinds ['klein-5b']"),
    ({"models": {"pro11": {"pipeline": "base", "source": "/m", "steps": 20}}},
     "steps and guidance are for kinds on a FLUX.2 pipeline (flux2, klein, klein-kv), not on "
     "'base'"),
    ({"models": {"klein-4b": {"pipeline": "klein", "source": "/m", "steps": 0}}},
     "greater than or equal to 1"),
])
def test_mistakes_are_refused_naming_the_value(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        settings(**values)
