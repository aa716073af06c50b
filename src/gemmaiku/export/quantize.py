"""K-quants through llama.cpp's own quantizer (llama-cpp-python's ``llama_model_quantize``).

gguf-py has no K-quant encoder; llama.cpp's quantizer also picks its per-tensor mix (Q4_K_M keeps
some tensors at Q6_K, and falls back to Q5_0/Q8_0 where Gemma's 640-wide rows do not fill 256-wide
super-blocks).
"""

from __future__ import annotations

import ctypes
import logging
import os
from contextlib import contextmanager
from pathlib import Path

from gemmaiku.atomic import atomic_file
from gemmaiku.errors import GemmaikuError
from gemmaiku.export.outtypes import K_QUANTS, OUTTYPES


@contextmanager
def _llama_log_level(level: int):
    """llama.cpp's log through llama-cpp-python's logger at ``level`` for a while, then as before.

    Replacing llama.cpp's log callback instead would silence it for the rest of the process."""
    from llama_cpp import _logger

    previous = _logger.logger.level
    _logger.logger.setLevel(level)
    try:
        yield
    finally:
        _logger.logger.setLevel(previous)


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
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, OUTTYPES[outtype].llama_ftype)
    params.nthread = threads or min(os.cpu_count() or 1, 4)
    output = Path(output)
    with atomic_file(output) as tmp, _llama_log_level(logging.DEBUG if verbose else logging.CRITICAL + 1):
        status = llama_cpp.llama_model_quantize(
            str(source).encode(), str(tmp).encode(), ctypes.byref(params)
        )
        if status != 0:
            raise GemmaikuError(f"llama.cpp could not quantize {source} to {outtype} (status {status})")
    return output
