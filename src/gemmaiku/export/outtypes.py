"""GGUF output types: one table for `gemmaiku export --outtype`, `gemmaiku pipeline --outtype` and
the writers. A row says how the type is written: directly by gguf-py (``tensor_type``: the type of
the 2-D weights; norms and 1-D tensors stay F32) or by llama.cpp's quantizer from a temporary
F16 file (``llama_ftype``), and what the measurements say about it for the shipped model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutType:
    name: str
    file_type: str  # gguf.LlamaFileType member (general.file_type)
    tensor_type: str | None = None  # gguf.GGMLQuantizationType that gguf-py writes
    llama_ftype: str | None = None  # llama_cpp constant for llama.cpp's quantizer
    note: str = ""


_T = OutType
OUTTYPES: dict[str, OutType] = {
    t.name: t
    for t in [
        _T("f32", "ALL_F32", tensor_type="F32"),
        _T("f16", "MOSTLY_F16", tensor_type="F16", note="the shipped type"),
        _T("bf16", "MOSTLY_BF16", tensor_type="BF16"),
        _T("q8_0", "MOSTLY_Q8_0", tensor_type="Q8_0", note="keeps the fine-tune"),
        _T("q4_k_m", "MOSTLY_Q4_K_M", llama_ftype="LLAMA_FTYPE_MOSTLY_Q4_K_M",
           note="erases the 270M's fine-tune (docs/results.md)"),
        _T("q5_k_m", "MOSTLY_Q5_K_M", llama_ftype="LLAMA_FTYPE_MOSTLY_Q5_K_M", note="keeps the fine-tune"),
        _T("q6_k", "MOSTLY_Q6_K", llama_ftype="LLAMA_FTYPE_MOSTLY_Q6_K"),
    ]
}
FLOAT_OUTTYPES = tuple(name for name, t in OUTTYPES.items() if t.tensor_type)
K_QUANTS = tuple(name for name, t in OUTTYPES.items() if t.llama_ftype)
