"""Where the output classifier runs: onnxruntime's CUDA provider when the GPU build is installed
and a CUDA device is present, CPU otherwise."""

from __future__ import annotations

import pytest

from fluxhost.moderation import images
from fluxhost.moderation.images import ImageClassifier, choose_providers

GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_cuda_when_the_gpu_build_and_a_device_are_there() -> None:
    assert choose_providers(GPU_BUILD, cuda_present=True) == [
        "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_cpu_without_a_device_even_with_the_gpu_build() -> None:
    assert choose_providers(GPU_BUILD, cuda_present=False) == ["CPUExecutionProvider"]


def test_cpu_with_the_cpu_build_even_with_a_device() -> None:
    cpu_build = ["AzureExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(cpu_build, cuda_present=True) == ["CPUExecutionProvider"]


def test_default_providers_ask_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: GPU_BUILD)
    monkeypatch.setattr(images, "_cuda_present", lambda: True)
    assert images.default_providers()[0] == "CUDAExecutionProvider"
    monkeypatch.setattr(images, "_cuda_present", lambda: False)
    assert images.default_providers() == ["CPUExecutionProvider"]


def test_classifier_loads_on_this_machines_providers() -> None:
    clf = ImageClassifier()
    assert clf.providers is None  # nothing chosen (nor onnxruntime imported) before the load
    clf.load()
    assert clf.providers == images.default_providers()
    explicit = ImageClassifier(providers=["CPUExecutionProvider"])
    assert explicit.providers == ["CPUExecutionProvider"]
