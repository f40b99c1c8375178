"""FLUXHOST_MODELS with operator-defined kinds, and the kinds FLUXHOST_ENDPOINT_KINDS and
FLUXHOST_WORKER_KINDS may name: each mistake is refused at start-up, naming the bad value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from fluxhost.planning import plan
from fluxhost.settings import Settings

PRO11 = {"pipeline": "base", "source": "/models/my-flux"}


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_a_custom_kind_serves_an_endpoint() -> None:
    s = settings(models={"base": "black-forest-labs/FLUX.1-dev", "pro11": PRO11},
                 endpoint_kinds={"flux-pro-1.1": "pro11"}, worker_kinds="pro11,base")
    assert s.custom_kinds() == {"pro11": "base"}
    assert s.kind_pipeline("pro11") == "base" and s.kind_pipeline("fill") == "fill"
    assert s.kind_pipeline("nope") is None
    assert s.model_sources() == {"base": "black-forest-labs/FLUX.1-dev",
                                 "pro11": "/models/my-flux"}
    assert s.endpoint_kind("flux-pro-1.1") == "pro11"
    assert s.endpoint_kind("flux-dev") == "base"


def test_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXHOST_MODELS", json.dumps({"pro11": PRO11, "base": "/m/dev"}))
    monkeypatch.setenv("FLUXHOST_ENDPOINT_KINDS", '{"flux-pro-1.1": "pro11"}')
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.endpoint_kind("flux-pro-1.1") == "pro11"


@pytest.mark.parametrize(("values", "message"), [
    ({"models": {"pro11": "/models/my-flux"}},
     "kind 'pro11' is not built in: give its pipeline too"),
    ({"models": {"base": {"pipeline": "fill", "source": "x"}}},
     "kind 'base' is built in and runs the base pipeline, not 'fill'"),
    ({"models": {"Pro 1.1": PRO11}}, "bad kind name 'Pro 1.1'"),
    ({"models": {"a-very-long-kind-name": PRO11}}, "bad kind name"),
    ({"models": {"training": PRO11}}, "bad kind name 'training'"),
    ({"models": {"other": PRO11}}, "bad kind name 'other'"),
    ({"models": {"depth_estimator": PRO11}}, "takes a hub id or directory"),
    ({"models": {"r": {"pipeline": "redux", "source": "x"}}}, "pipeline"),
    ({"models": {"p": {"pipeline": "base", "source": ""}}}, "source"),
    ({"models": {"p": {"pipeline": "base", "source": "x", "extra": 1}}}, "extra"),
    ({"endpoint_kinds": {"flux-pro-1.1": "pro11"}}, "unknown kind 'pro11' for flux-pro-1.1"),
    ({"models": {"pro11": PRO11}, "endpoint_kinds": {"flux-pro-1.0-fill": "pro11"}},
     "flux-pro-1.0-fill cannot run on kind 'pro11' (a base pipeline); it needs one of: fill"),
    ({"endpoint_kinds": {"flux-pro-1.0-canny": "depth"}}, "it needs one of: canny"),
    ({"endpoint_kinds": {"flux-pro-2": "base"}}, "unknown endpoints ['flux-pro-2']"),
    ({"worker_kinds": "base,pro11"}, "unknown kinds ['pro11']"),
    ({"worker_kinds": "base,Bad Kind"}, "unknown kinds ['Bad Kind']"),
])
def test_mistakes_are_refused_naming_the_value(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        settings(**values)
    assert message in str(err.value)


def test_text_endpoints_may_move_between_base_and_kontext_pipelines() -> None:
    s = settings(models={"k2": {"pipeline": "kontext", "source": "x"}, "pro11": PRO11},
                 endpoint_kinds={"flux-dev": "k2", "flux-kontext-pro": "pro11"})
    assert s.endpoint_kind("flux-dev") == "k2"


def test_the_plan_runs_the_pipeline_of_the_custom_kind() -> None:
    s = settings(models={"pro11": PRO11, "base": "/m/dev", "redux": "/m/redux",
                         "edges": {"pipeline": "canny", "source": "/m/canny"}},
                 endpoint_kinds={"flux-pro-1.1": "pro11", "flux-pro-1.0-canny": "edges"})
    params = {"seed": 1, "width": 256, "height": 256, "_input_blobs": {"image_prompt": "b"}}
    p = plan("flux-pro-1.1", params, s, kind="pro11")
    # Redux assists any kind that runs the base pipeline.
    assert p.kinds == ("pro11", "redux") and p.pipeline == "base"
    c = plan("flux-pro-1.0-canny", {"seed": 1, "_input_blobs": {"control_image": "c"}}, s,
             kind="edges")
    assert c.kinds == ("edges",) and c.pipeline == "canny" and (c.steps, c.guidance) == (50, 30.0)
