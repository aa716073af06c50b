"""Summarise a GGUF file: its metadata and a table of its tensors."""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import Any

from gemmaiku.base.gguf_io import open_gguf

ARRAY_PREVIEW = 8


def _short(value: Any) -> Any:
    if isinstance(value, list) and len(value) > ARRAY_PREVIEW:
        return {"array_length": len(value), "first": value[:ARRAY_PREVIEW]}
    return value


def inspect_gguf(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Metadata (long arrays shortened), tensor types and shapes, parameter count, file size."""
    gguf_file = open_gguf(path)
    metadata = {key: _short(value) for key, value in gguf_file.metadata.items()}
    tensors = [
        {
            "name": t.name,
            "type": t.type_name,
            "shape": list(t.shape),
            "n_elements": t.n_elements,
            "n_bytes": t.n_bytes,
        }
        for t in gguf_file.tensors
    ]
    return {
        "path": str(gguf_file.path),
        "file_bytes": gguf_file.file_bytes,
        "gguf_version": gguf_file.version,
        "architecture": metadata.get("general.architecture"),
        "metadata": metadata,
        "tensor_count": len(tensors),
        "tensor_types": dict(Counter(t["type"] for t in tensors).most_common()),
        "parameters": sum(t["n_elements"] for t in tensors),
        "tensor_bytes": sum(t["n_bytes"] for t in tensors),
        "tensors": tensors,
    }


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def human_count(n: int) -> str:
    if n == 0:
        return "0"
    exponent = min(int(math.log10(n)) // 3, 3)
    return f"{n / 1000**exponent:.1f}{['', 'K', 'M', 'B'][exponent]}"
