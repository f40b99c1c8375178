"""transformers' notice that an image processor falls back to PIL without torchvision is
dropped wherever fluxhost loads models; its other warnings still show. A fresh process: the
notice is printed once per process, on the first import of diffusers' FLUX pipelines."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None,
                                reason="with torchvision installed there is no fallback")


def stderr_of(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=240, check=False)
    assert out.returncode == 0, out.stderr
    return out.stderr


def test_the_torchvision_fallback_notice_is_dropped_and_nothing_else() -> None:
    said = stderr_of("""
        import fluxhost.engine
        from diffusers import FluxPipeline, FluxPriorReduxPipeline
        from transformers import AutoImageProcessor
        from transformers.utils import logging

        logging.get_logger("transformers.utils.import_utils").warning("another warning")
        logging.get_logger("transformers.models.auto.image_processing_auto").warning("and one")
    """)
    assert "torchvision" not in said, said
    assert "another warning" in said and "and one" in said


def test_without_fluxhost_the_notice_is_there() -> None:
    # The check above means something: the same import does print it.
    said = stderr_of("from diffusers import FluxPipeline")
    assert "requires torchvision (not installed); falling back to" in said
