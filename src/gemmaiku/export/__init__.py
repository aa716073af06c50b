"""Export a Gemma 3 Hugging Face folder to GGUF for llama.cpp and Ollama.

``export_gguf(model_dir, output, outtype)`` writes the float types and q8_0 with gguf-py (the same
keys, tokenizer and tensors as llama.cpp's converter), and the K-quants by quantizing a temporary
F16 file with llama.cpp (the table: export.outtypes). ``inspect_gguf(path)`` summarises any GGUF.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from gemmaiku.atomic import atomic_file
from gemmaiku.export.inspect import inspect_gguf
from gemmaiku.export.outtypes import FLOAT_OUTTYPES, OUTTYPES
from gemmaiku.export.quantize import quantize_gguf
from gemmaiku.export.writer import plan_export, write_gguf
from gemmaiku.progress import progress_bars

__all__ = ["OUTTYPES", "export_gguf", "inspect_gguf", "quantize_gguf"]


def export_gguf(
    model_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    outtype: str = "f16",
    *,
    name: str | None = None,
    progress: bool = True,
    threads: int | None = None,
) -> Path:
    """Write ``model_dir`` (a Gemma 3 HF folder) as a GGUF at ``output``; returns the path."""
    from gemmaiku.errors import GemmaikuError

    outtype = outtype.lower()
    if outtype not in OUTTYPES:
        raise GemmaikuError(f"unknown --outtype {outtype!r} (choose {', '.join(OUTTYPES)})")
    output = Path(output)
    float_type = outtype if outtype in FLOAT_OUTTYPES else "f16"
    plan = plan_export(model_dir, float_type, name=name)
    if outtype in FLOAT_OUTTYPES:
        with atomic_file(output) as tmp, progress_bars(progress, in_bytes=True) as report:
            write_gguf(plan, tmp, partial(report, f"writing {output.name}"))
        return output
    f16 = output.with_name(f".{output.name}.f16")
    try:
        with atomic_file(f16) as tmp, progress_bars(progress, in_bytes=True) as report:
            write_gguf(plan, tmp, partial(report, f"writing {output.name} (F16)"))
        quantize_gguf(f16, output, outtype, threads=threads)
    finally:
        f16.unlink(missing_ok=True)
    return output
