"""Read a GGUF file's metadata and tokenizer arrays as plain Python values (shared by base and export)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemmaiku.errors import GemmaikuError

GGUF_MAGIC = b"GGUF"


def open_gguf(path: str | os.PathLike[str]):
    """Open ``path`` with gguf-py's reader, turning every failure into a one-line GemmaikuError."""
    import gguf

    path = Path(path)
    if not path.is_file():
        raise GemmaikuError(f"no such file: {path} (give the path to a .gguf file)")
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise GemmaikuError(f"{path} is not a GGUF file (it does not start with 'GGUF')")
    try:
        return gguf.GGUFReader(path)
    except Exception as exc:  # gguf-py raises ValueError/IndexError/... on damaged files
        raise GemmaikuError(f"cannot read {path}: {exc} (the file looks truncated or damaged)") from None


def field_value(field) -> Any:
    """One metadata value: str, int, float, bool or a list of them."""
    return field.contents()


def read_metadata(reader, *, skip_arrays_longer_than: int | None = None) -> dict[str, Any]:
    """All key/value pairs except the GGUF.* header pseudo-keys; long arrays as ``[len]`` if asked."""
    out: dict[str, Any] = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        if skip_arrays_longer_than is not None and len(field.data) > skip_arrays_longer_than:
            out[key] = f"[{len(field.data)} items]"
            continue
        out[key] = field_value(field)
    return out


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


def read_vocab(reader) -> GGUFVocab:
    fields = reader.fields

    def get(key: str, default: Any = None) -> Any:
        return field_value(fields[key]) if key in fields else default

    model = get("tokenizer.ggml.model")
    if model != "llama":
        raise GemmaikuError(
            f"the GGUF's tokenizer is {model!r}, not a SentencePiece ('llama') vocabulary "
            "(give a Gemma 3 GGUF converted from a folder with tokenizer.model)"
        )
    return GGUFVocab(
        tokens=list(get("tokenizer.ggml.tokens")),
        scores=[float(s) for s in get("tokenizer.ggml.scores")],
        token_types=[int(t) for t in get("tokenizer.ggml.token_type")],
        bos_id=int(get("tokenizer.ggml.bos_token_id", 2)),
        eos_id=int(get("tokenizer.ggml.eos_token_id", 1)),
        unk_id=int(get("tokenizer.ggml.unknown_token_id", 3)),
        pad_id=int(get("tokenizer.ggml.padding_token_id", 0)),
        add_bos=bool(get("tokenizer.ggml.add_bos_token", True)),
        add_eos=bool(get("tokenizer.ggml.add_eos_token", False)),
    )
