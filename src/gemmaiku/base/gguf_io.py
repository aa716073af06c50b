"""Read a GGUF file: metadata, tokenizer arrays and tensor infos, and tensors on demand.

A small reader of the GGUF v2/v3 layout (header, key/values, tensor infos, aligned data). gguf-py's
``GGUFReader`` builds a numpy view per array item, which takes ~10-20 s for Gemma's 262k-token
vocabulary on a 2-core machine; this one reads the header in well under a second and maps the
tensor data only when asked. Tests check it against gguf-py's reader.

Files can come from clients (``/api/create`` names a GGUF in the server's model folders), so the
reader trusts no count in the header: every array, key/value and tensor count is checked against
the bytes left before anything is allocated, arrays nest at most ``MAX_ARRAY_NESTING`` deep, and a
damaged header of any shape raises :class:`~gemmaiku.errors.GemmaikuError` (fuzzed in tests/base).
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemmaiku.errors import GemmaikuError

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# GGUF value type -> struct format of one scalar (8 = string, 9 = array are handled apart)
SCALARS: dict[int, str] = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}
NUMPY_TYPES: dict[int, str] = {
    0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8", 12: "<f8",
}
STRING, ARRAY = 8, 9
MAX_ARRAY_NESTING = 4  # llama.cpp reads no nested arrays at all; gguf-py writes none
MAX_DIMS = 4  # GGML_MAX_DIMS
# The fewest bytes a key/value pair (empty key, type, one byte) and a tensor info (empty name,
# zero dims, type, offset) can take: a count larger than the bytes left allow is a damaged header.
MIN_KV_BYTES = 8 + 4 + 1
MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # GGUF order (fastest-varying first), as llama.cpp prints it
    ggml_type: int
    offset: int  # absolute, in the file
    n_elements: int
    n_bytes: int

    @property
    def type_name(self) -> str:
        import gguf

        return gguf.GGMLQuantizationType(self.ggml_type).name


def _min_value_bytes(vtype: int) -> int:
    if vtype == STRING:
        return 8  # the length
    if vtype == ARRAY:
        return 4 + 8  # item type and count
    if vtype not in SCALARS:
        raise ValueError(f"unknown value type {vtype}")
    return struct.calcsize(SCALARS[vtype])


class _Cursor:
    def __init__(self, buffer) -> None:
        self.buffer, self.pos = buffer, 0

    def need(self, count: int, item_bytes: int, what: str) -> None:
        """Refuse a count that the bytes left cannot hold (before looping or allocating)."""
        if count * item_bytes > len(self.buffer) - self.pos:
            raise ValueError(f"{count} {what} cannot fit in the {len(self.buffer) - self.pos} bytes left")

    def scalar(self, fmt: str):
        (value,) = struct.unpack_from(fmt, self.buffer, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        length = self.scalar("<Q")
        self.need(length, 1, "string bytes")
        raw = self.buffer[self.pos : self.pos + length]
        self.pos += length
        return bytes(raw).decode("utf-8", errors="replace")

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY:
            if depth >= MAX_ARRAY_NESTING:
                raise ValueError(f"arrays nested more than {MAX_ARRAY_NESTING} deep")
            item_type, count = self.scalar("<I"), self.scalar("<Q")
            self.need(count, _min_value_bytes(item_type), "array items")
            if item_type == STRING:
                return [self.string() for _ in range(count)]
            if item_type in NUMPY_TYPES:
                import numpy as np

                array = np.frombuffer(self.buffer, dtype=NUMPY_TYPES[item_type], count=count, offset=self.pos)
                self.pos += array.nbytes
                return array.tolist()
            return [self.value(item_type, depth + 1) for _ in range(count)]
        _min_value_bytes(vtype)  # unknown types raise
        return self.scalar(SCALARS[vtype])


class GGUFFile:
    """A parsed GGUF: ``metadata`` (key -> value), ``tensors`` (TensorInfo list) and ``array()``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise GemmaikuError(f"no such file: {self.path} (give the path to a .gguf file)")
        self.file_bytes = self.path.stat().st_size
        with self.path.open("rb") as handle:
            if handle.read(4) != GGUF_MAGIC:
                raise GemmaikuError(f"{self.path} is not a GGUF file (it does not start with 'GGUF')")
            buffer = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            self._parse(buffer)
        except (struct.error, ValueError, TypeError, IndexError, KeyError, OverflowError) as exc:
            raise GemmaikuError(f"cannot read {self.path}: {exc} (the file looks truncated or damaged)") from None
        finally:
            buffer.close()
        end = max((t.offset + t.n_bytes for t in self.tensors), default=self.data_offset)
        if end > self.file_bytes:
            raise GemmaikuError(
                f"{self.path} is truncated ({self.file_bytes} bytes, its tensors need {end})"
            )

    def _parse(self, buffer) -> None:
        import gguf

        cursor = _Cursor(buffer)
        cursor.pos = 4
        self.version = cursor.scalar("<I")
        if self.version not in (2, 3):
            raise ValueError(f"GGUF version {self.version} is not supported")
        n_tensors, n_kv = cursor.scalar("<Q"), cursor.scalar("<Q")
        cursor.need(n_kv, MIN_KV_BYTES, "key/value pairs")
        self.metadata: dict[str, Any] = {}
        self.value_types: dict[str, int] = {}
        for _ in range(n_kv):
            key = cursor.string()
            vtype = cursor.scalar("<I")
            self.value_types[key] = vtype
            self.metadata[key] = cursor.value(vtype)
        cursor.need(n_tensors, MIN_TENSOR_INFO_BYTES, "tensor infos")
        infos = []
        for _ in range(n_tensors):
            name = cursor.string()
            n_dims = cursor.scalar("<I")
            if n_dims > MAX_DIMS:
                raise ValueError(f"tensor {name!r} has {n_dims} dimensions (at most {MAX_DIMS})")
            shape = tuple(cursor.scalar("<Q") for _ in range(n_dims))
            infos.append((name, shape, cursor.scalar("<I"), cursor.scalar("<Q")))
        alignment = self.metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise ValueError(f"general.alignment is {alignment!r}, not a power of two")
        self.data_offset = -(-cursor.pos // alignment) * alignment
        self.tensors: list[TensorInfo] = []
        for name, shape, ggml_type, offset in infos:
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ggml_type)]
            if offset % alignment or (shape and shape[0] % block):
                raise ValueError(f"tensor {name!r} is misaligned or not a whole number of blocks")
            n_elements = 1
            for n in shape:
                n_elements *= n
            self.tensors.append(
                TensorInfo(name, shape, ggml_type, self.data_offset + offset, n_elements, n_elements // block * type_size)
            )

    def tensor_data(self, info: TensorInfo):
        """The tensor as gguf-py's ``dequantize`` takes it: typed for F32/F16, rows of bytes else."""
        import gguf
        import numpy as np

        qtype = gguf.GGMLQuantizationType(info.ggml_type)
        shape = tuple(reversed(info.shape))  # numpy order
        raw = np.memmap(self.path, dtype=np.uint8, mode="r", offset=info.offset, shape=(info.n_bytes,))
        if qtype == gguf.GGMLQuantizationType.F32:
            return raw.view(np.float32).reshape(shape)
        if qtype == gguf.GGMLQuantizationType.F16:
            return raw.view(np.float16).reshape(shape)
        return raw.reshape(gguf.quant_shape_to_byte_shape(shape, qtype))

    def dequantize(self, info: TensorInfo):
        """The tensor as a float32 numpy array in Hugging Face (row-major) shape."""
        import gguf
        import numpy as np

        data = gguf.quants.dequantize(self.tensor_data(info), gguf.GGMLQuantizationType(info.ggml_type))
        return np.asarray(data, dtype=np.float32)


def open_gguf(path: str | os.PathLike[str]) -> GGUFFile:
    return GGUFFile(path)


def read_metadata(gguf_file: GGUFFile, *, skip_arrays_longer_than: int | None = None) -> dict[str, Any]:
    """All key/value pairs; arrays longer than the limit as ``"[N items]"`` if asked."""
    if skip_arrays_longer_than is None:
        return dict(gguf_file.metadata)
    return {
        key: f"[{len(value)} items]" if isinstance(value, list) and len(value) > skip_arrays_longer_than else value
        for key, value in gguf_file.metadata.items()
    }


@dataclass(frozen=True)
class GGUFVocab:
    """The SentencePiece-style vocabulary llama.cpp keeps in ``tokenizer.ggml.*``."""

    tokens: list[str]
    scores: list[float]
    token_types: list[int]
    bos_id: int
    eos_id: int
    unk_id: int
    pad_id: int
    add_bos: bool
    add_eos: bool


def read_vocab(gguf_file: GGUFFile) -> GGUFVocab:
    meta = gguf_file.metadata
    model = meta.get("tokenizer.ggml.model")
    if model != "llama":
        raise GemmaikuError(
            f"the GGUF's tokenizer is {model!r}, not a SentencePiece ('llama') vocabulary "
            "(give a Gemma 3 GGUF converted from a folder with tokenizer.model)"
        )
    tokens = meta.get("tokenizer.ggml.tokens") or []
    scores = meta.get("tokenizer.ggml.scores") or []
    types = meta.get("tokenizer.ggml.token_type") or []
    if not tokens or len(tokens) != len(scores) or len(tokens) != len(types):
        raise GemmaikuError("the GGUF's tokens, scores and token types differ in length (damaged GGUF)")
    return GGUFVocab(
        tokens=list(tokens),
        scores=[float(s) for s in scores],
        token_types=[int(t) for t in types],
        bos_id=int(meta.get("tokenizer.ggml.bos_token_id", 2)),
        eos_id=int(meta.get("tokenizer.ggml.eos_token_id", 1)),
        unk_id=int(meta.get("tokenizer.ggml.unknown_token_id", 3)),
        pad_id=int(meta.get("tokenizer.ggml.padding_token_id", 0)),
        add_bos=bool(meta.get("tokenizer.ggml.add_bos_token", True)),
        add_eos=bool(meta.get("tokenizer.ggml.add_eos_token", False)),
    )
