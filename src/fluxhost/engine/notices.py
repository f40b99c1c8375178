"""Import-time notices of the quantization libraries that say nothing to an operator, dropped
by name (like hf.py's torchvision notice) so every worker start does not print them once
torchao is installed (the quant extra, in dev too). Each is known harmless here:

- torchao 0.18 tries to load its CUDA-only C extensions (mxfp8, cutlass sm90a) and warns on a
  CPU build of torch, where they cannot load and are never used (kept on a CUDA build, where
  the same line would be a real problem);
- its import calls torch's register_constant on two Enums, which torch 2.13 calls deprecated;
- diffusers then says it cannot import torchao's tensor types for torchao-serialized
  checkpoints, which fluxhost never loads (it quantizes at load);
- torchao's int matmul says triton is missing, which a CPU build never has.
Every other message of these loggers still shows."""

from __future__ import annotations

import logging

# logger -> (fragment of the messages dropped, only on a CPU build of torch).
NOTICES: dict[str, tuple[str, bool]] = {
    "torchao": ("Failed to load", True),
    "torch.utils._pytree": ("is an Enum subclass and is now natively supported", False),
    "diffusers.quantizers.torchao.torchao_quantizer": ("Unable to import `torchao` Tensor",
                                                       False),
    "torchao.kernel.intmm": ("Detected no triton", True),
}


class _Drop(logging.Filter):
    def __init__(self, fragment: str, cpu_only: bool) -> None:
        super().__init__()
        self.fragment = fragment
        self.cpu_only = cpu_only

    def filter(self, record: logging.LogRecord) -> bool:
        if self.fragment not in str(record.msg):
            return True
        return self.cpu_only and not _cpu_build()


def _cpu_build() -> bool:
    import torch  # imported already: the notices come from importing torch's extensions

    return torch.version.cuda is None


def drop_quantization_notices() -> None:
    """Install the filters (once; they sit on the loggers by name, before or after import)."""
    for name, (fragment, cpu_only) in NOTICES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Drop) for f in logger.filters):
            logger.addFilter(_Drop(fragment, cpu_only))
