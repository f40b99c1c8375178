"""A tiny .gguf transformer written with the `gguf` package, as city96's FLUX files are laid
out: 2-D weights quantized (Q8_0), everything else (biases, norms) F16, one tensor per
parameter, architecture "flux".

The names are diffusers' own, not BFL's (double_blocks.0.img_attn.qkv, ...): diffusers'
FLUX single-file converter hard-codes the real model's inner size (3072) to split the single
blocks' fused weights, so a dev-sized file in BFL's names cannot be converted; one whose names
are exactly the model's is loaded as is (diffusers' _should_convert_state_dict_to_diffusers),
through the same GGUF reader and GGUFParameter dequantization as a real file."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_gguf(transformer_dir: Path, out: Path, quant: str = "Q8_0") -> Path:
    import gguf
    from safetensors.numpy import load_file

    qtype = gguf.GGMLQuantizationType[quant]
    block, _ = gguf.GGML_QUANT_SIZES[qtype]
    writer = gguf.GGUFWriter(out, arch="flux")
    for path in sorted(transformer_dir.glob("*.safetensors")):
        for name, array in load_file(path).items():
            data = array.astype(np.float32)
            if data.ndim == 2 and data.shape[-1] % block == 0:
                writer.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
            else:
                writer.add_tensor(name, data.astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
