"""Compare two GGUF files key by key and tensor by tensor (test helper)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def metadata(path: Path) -> dict:
    import gguf

    reader = gguf.GGUFReader(path)
    return {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}


def tensors(path: Path) -> dict:
    """name -> (type name, shape, raw bytes)"""
    import gguf

    reader = gguf.GGUFReader(path)
    return {t.name: (t.tensor_type.name, [int(n) for n in t.shape], bytes(t.data.tobytes())) for t in reader.tensors}


def key_differences(a: dict, b: dict, prefixes: tuple[str, ...]) -> list[str]:
    keys = {k for k in a | b if k.startswith(prefixes)}
    return sorted(k for k in keys if a.get(k, "<absent>") != b.get(k, "<absent>"))


def tensor_differences(a: dict, b: dict) -> list[str]:
    names = set(a) | set(b)
    return sorted(n for n in names if a.get(n) != b.get(n))


def run_converter(script: Path, folder: Path, output: Path, outtype: str = "f16") -> Path:
    result = subprocess.run(
        [sys.executable, str(script), str(folder), "--outfile", str(output), "--outtype", outtype],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return output
