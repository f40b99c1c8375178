"""Moderation and upsampling around a generation, in-process on the dev model."""

from __future__ import annotations

from typing import Any

from fluxhost.moderation import Moderator
from fluxhost.moderation.policy import policy_from_settings
from fluxhost.store.tasks import get_task, submit_task
from fluxhost.worker.guard import Guard
from fluxhost.worker.worker import Worker
from tests.conftest import Tenant


def run(services: Any, tenant: Tenant, engine: Any, guard: Guard | None = None,
        **params: Any) -> Any:
    base = {"finetune_id": tenant.finetune_id, "finetune_strength": 1.0, "steps": 2,
            "guidance": 2.5, "width": 256, "height": 256, "prompt": "a lighthouse", "seed": 3,
            "output_format": "png", "safety_tolerance": 2}
    tid = submit_task(services.store, key_id=tenant.key_id, endpoint="flux-pro-finetuned",
                      params={**base, **params}, base_url="http://x", webhook_url=None,
                      webhook_secret=None, active_limit=10)
    assert Worker(services, engine, guard=guard).run_one()
    task = get_task(services.store, tid)
    assert task is not None
    return task


def test_prompt_upsampling_reports_the_prompt_used(services: Any, tenant: Tenant,
                                                   engine: Any) -> None:
    task = run(services, tenant, engine, prompt_upsampling=True)
    assert task.status == "Ready"
    used = task.result["prompt"]
    assert used.startswith("a lighthouse") and len(used) > len("a lighthouse") + 20
    plain = run(services, tenant, engine)
    assert plain.result["prompt"] == "a lighthouse"


def test_prompt_refused_by_tolerance(make_settings: Any, services: Any, tenant: Tenant,
                                     engine: Any) -> None:
    guard = Guard(make_settings(moderation_word_lists={"violence": ["lighthouse"]}))
    strict = run(services, tenant, engine, guard=guard, safety_tolerance=2)
    assert strict.status == "Request Moderated"
    assert strict.details == {"Moderation Reasons": ["prompt: violence"]}
    assert strict.blob_key is None
    lenient = run(services, tenant, engine, guard=guard, safety_tolerance=4)
    assert lenient.status == "Ready"  # violence is refused only up to tolerance 2


class Score:
    def __init__(self, value: float) -> None:
        self.value = value

    def score(self, image: Any) -> float:
        return self.value


def test_output_moderated_keeps_no_image(settings: Any, services: Any, tenant: Tenant,
                                         engine: Any) -> None:
    guard = Guard(settings)
    guard._moderator = Moderator(policy_from_settings(), classifier_factory=lambda: Score(0.93))
    task = run(services, tenant, engine, guard=guard, safety_tolerance=5)
    assert task.status == "Content Moderated"
    assert task.details == {"Moderation Reasons": ["output: nsfw"]}
    assert task.blob_key is None and task.result is None
    assert services.blobs.path(f"results/{task.id}.png") is None
    guard._moderator = Moderator(policy_from_settings(), classifier_factory=lambda: Score(0.93))
    assert run(services, tenant, engine, guard=guard, safety_tolerance=6).status == "Ready"


def test_output_moderated_by_the_real_classifier(make_settings: Any, services: Any,
                                                 tenant: Tenant, engine: Any) -> None:
    # Threshold 0 at tolerance 2: any score refuses, so the real model refuses benign noise.
    guard = Guard(make_settings(moderation_table={2: {"image_threshold": 0.0}}))
    task = run(services, tenant, engine, guard=guard, safety_tolerance=2)
    assert task.status == "Content Moderated" and task.blob_key is None
    assert run(services, tenant, engine, guard=guard, safety_tolerance=3).status == "Ready"


def test_the_emoji_demo_keeps_the_prompt(make_settings: Any) -> None:
    # The demo knows emoji names only; the offline upsampler's details would be unknown words.
    demo = Guard(make_settings(model_set="emoji", models={}))
    assert demo.upsampled("blue apple", 3, "t1") == "blue apple"
    assert Guard(make_settings()).upsampled("blue apple", 3, "t2") != "blue apple"
