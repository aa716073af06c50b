"""Read a GGUF's metadata and tensor table without loading weights or decoding big arrays.

gguf-py's GGUFReader decodes every array (262k tokenizer strings for Gemma) and took ~24 s on a
busy 2-core machine; a server listing models cannot wait that long. This reader skips arrays,
keeping only their type and length, and returns in milliseconds.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gemmaiku.errors import GemmaikuError

GGUF_MAGIC = b"GGUF"
# GGUF value type -> struct format of a scalar of that type (8 = string, 9 = array).
SCALAR_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9


@dataclass
class ArrayInfo:
    item_type: int
    length: int


@dataclass
class GGUFInfo:
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)  # arrays appear as ArrayInfo
    tensors: dict[str, tuple[tuple[int, ...], int]] = field(default_factory=dict)  # name -> (shape, ggml type)

    @property
    def parameter_count(self) -> int:
        total = 0
        for shape, _ in self.tensors.values():
            count = 1
            for dim in shape:
                count *= dim
            total += count
        return total


def _read(handle: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) != size:
        raise EOFError
    return struct.unpack(fmt, data)[0]


def _string(handle: BinaryIO) -> str:
    length = _read(handle, "<Q")
    data = handle.read(length)
    if len(data) != length:
        raise EOFError
    return data.decode("utf-8", errors="replace")


def _skip_array(handle: BinaryIO, item_type: int, length: int) -> None:
    if item_type == STRING:
        for _ in range(length):
            handle.seek(_read(handle, "<Q"), 1)
    elif item_type in SCALAR_FORMATS:
        handle.seek(struct.calcsize(SCALAR_FORMATS[item_type]) * length, 1)
    else:
        raise ValueError(f"unsupported array item type {item_type}")


def _value(handle: BinaryIO, value_type: int) -> Any:
    if value_type == STRING:
        return _string(handle)
    if value_type == ARRAY:
        item_type, length = _read(handle, "<I"), _read(handle, "<Q")
        _skip_array(handle, item_type, length)
        return ArrayInfo(item_type, length)
    if value_type in SCALAR_FORMATS:
        return _read(handle, SCALAR_FORMATS[value_type])
    raise ValueError(f"unknown value type {value_type}")


def read_gguf_info(path: Path) -> GGUFInfo:
    """Metadata (scalars and strings) and tensor shapes of a GGUF file; one clear error if it is not one."""
    try:
        with open(path, "rb") as handle:
            if handle.read(4) != GGUF_MAGIC:
                raise GemmaikuError(f"{path} is not a GGUF file (no GGUF magic bytes)")
            info = GGUFInfo(version=_read(handle, "<I"))
            tensor_count, kv_count = _read(handle, "<Q"), _read(handle, "<Q")
            for _ in range(kv_count):
                key = _string(handle)
                info.metadata[key] = _value(handle, _read(handle, "<I"))
            for _ in range(tensor_count):
                name = _string(handle)
                dims = tuple(_read(handle, "<Q") for _ in range(_read(handle, "<I")))
                ggml_type = _read(handle, "<I")
                _read(handle, "<Q")  # offset
                info.tensors[name] = (dims, ggml_type)
            return info
    except (EOFError, ValueError, struct.error):
        raise GemmaikuError(f"{path} is truncated or not a valid GGUF file") from None
    except OSError as exc:
        raise GemmaikuError(f"cannot read {path}: {exc.strerror}") from None
