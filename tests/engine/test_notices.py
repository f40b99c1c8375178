"""Installing torchao (the quant extra) adds no lines to a worker's start: its import notices
that say nothing here are dropped (fluxhost.engine.notices), in a fresh process as a worker
imports them; a quantized load still warns what it warns."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torchao")


def test_torchao_import_notices_are_dropped() -> None:
    code = textwrap.dedent("""
        import fluxhost.engine
        from diffusers import FluxPipeline, TorchAoConfig
        import transformers.quantizers.quantizer_torchao
        import torchao.kernel.intmm
        import logging
        logging.getLogger("torchao").warning("another torchao warning")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=240, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().splitlines() == ["another torchao warning"]
