"""Compare two GGUF files key by key and tensor by tensor (test helpers), and run llama.cpp's
converter as the reference."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np

LONG_ARRAY = 1000  # compared as raw encoded bytes


@functools.lru_cache(maxsize=8)
def _reader(path: str, stamp: tuple[int, int]):
    import gguf

    return gguf.GGUFReader(path)


def reader(path: Path):
    """gguf-py's reader, once per file: parsing the 262k-token vocabulary takes seconds."""
    info = Path(path).stat()
    return _reader(str(path), (info.st_size, info.st_mtime_ns))


def metadata(path: Path) -> dict:
    """key -> value; long arrays as their encoded bytes (equal iff every item is equal)."""
    reader_ = reader(path)
    out = {}
    for key, field in reader_.fields.items():
        if key.startswith("GGUF."):
            continue
        if len(field.data) > LONG_ARRAY:
            out[key] = b"".join(part.tobytes() for part in field.parts)
        else:
            out[key] = field.contents()
    return out


def array(path: Path, key: str) -> list:
    return reader(path).fields[key].contents()


def tensors(path: Path) -> dict:
    """name -> (type name, shape, raw data as a uint8 view of the memory map)"""
    return {
        t.name: (t.tensor_type.name, [int(n) for n in t.shape], np.asarray(t.data).reshape(-1).view(np.uint8))
        for t in reader(path).tensors
    }


def key_differences(a: dict, b: dict, prefixes: tuple[str, ...]) -> list[str]:
    keys = {k for k in a | b if k.startswith(prefixes)}
    return sorted(k for k in keys if a.get(k, "<absent>") != b.get(k, "<absent>"))


def tensor_differences(a: dict, b: dict) -> list[str]:
    different = []
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            different.append(name)
            continue
        (type_a, shape_a, data_a), (type_b, shape_b, data_b) = a[name], b[name]
        if type_a != type_b or shape_a != shape_b or not np.array_equal(data_a, data_b):
            different.append(name)
    return different


def run_converter(script: Path, folder: Path, output: Path, outtype: str = "f16") -> Path:
    result = subprocess.run(
        [sys.executable, str(script), str(folder), "--outfile", str(output), "--outtype", outtype],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return output
