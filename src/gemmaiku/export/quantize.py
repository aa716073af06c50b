"""K-quants through llama.cpp's own quantizer (llama-cpp-python's ``llama_model_quantize``).

gguf-py has no K-quant encoder; llama.cpp's quantizer also picks its per-tensor mix (Q4_K_M keeps
some tensors at Q6_K, and falls back to Q5_0/Q8_0 where Gemma's 640-wide rows do not fill 256-wide
super-blocks).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from gemmaiku.atomic import atomic_file
from gemmaiku.errors import GemmaikuError
from gemmaiku.export.outtypes import K_QUANTS, OUTTYPES


def _silence_llama_log(llama_cpp) -> None:
    @llama_cpp.llama_log_callback
    def quiet(level, text, user_data):  # noqa: ARG001
        pass

    _silence_llama_log.callback = quiet  # keep a reference: llama.cpp holds the pointer
    llama_cpp.llama_log_set(quiet, ctypes.c_void_p(0))


def quantize_gguf(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    outtype: str,
    *,
    threads: int | None = None,
    verbose: bool = False,
) -> Path:
    """Quantize an F16/F32/BF16 GGUF into ``output`` with llama.cpp (q4_k_m, q5_k_m, q6_k)."""
    if outtype not in K_QUANTS:
        raise GemmaikuError(f"unknown K-quant {outtype!r} (choose {', '.join(K_QUANTS)})")
    try:
        import llama_cpp
    except ImportError:
        raise GemmaikuError(
            f"--outtype {outtype} needs llama-cpp-python (pip install 'gemmaiku[runtime]')"
        ) from None
    if not verbose:
        _silence_llama_log(llama_cpp)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, OUTTYPES[outtype].llama_ftype)
    params.nthread = threads or min(os.cpu_count() or 1, 4)
    output = Path(output)
    with atomic_file(output) as tmp:
        status = llama_cpp.llama_model_quantize(
            str(source).encode(), str(tmp).encode(), ctypes.byref(params)
        )
        if status != 0:
            raise GemmaikuError(f"llama.cpp could not quantize {source} to {outtype} (status {status})")
    return output
