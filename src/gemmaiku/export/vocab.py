"""The GGUF vocabulary of a Gemma 3 folder: its SentencePiece ``tokenizer.model`` plus the added
tokens ``tokenizer_config.json`` declares (the same reading llama.cpp's converter does)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemmaiku.errors import GemmaikuError

SPACE_MARK = "\u2581"
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
ADDED_TOKEN_SCORE = -1000.0
PAD_SCORE = -10000.0

# tokenizer_config.json "<kind>_token" -> tokenizer.ggml.<kind>_token_id
SPECIAL_TOKENS = ("bos", "eos", "unk", "sep", "pad", "mask")
ADD_FLAGS = {"add_bos_token": True, "add_sep_token": False, "add_eos_token": False}


@dataclass
class Vocab:
    tokens: list[str]
    scores: list[float]
    types: list[int]
    special_ids: dict[str, int] = field(default_factory=dict)
    add_flags: dict[str, bool] = field(default_factory=dict)


def _load_proto(path: Path):
    from google.protobuf.message import DecodeError
    from sentencepiece import sentencepiece_model_pb2 as pb

    model = pb.ModelProto()
    try:
        model.ParseFromString(path.read_bytes())
    except DecodeError:
        raise GemmaikuError(f"{path} is not a SentencePiece model (it cannot be parsed)") from None
    if not model.pieces:
        raise GemmaikuError(f"{path} holds no pieces (a damaged tokenizer.model)")
    return model


def _tokenizer_config(folder: Path) -> dict[str, Any]:
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise GemmaikuError(f"{path} is not valid JSON ({exc})") from None


def _token_text(entry: Any) -> str | None:
    if isinstance(entry, dict):
        entry = entry.get("content")
    return entry if isinstance(entry, str) else None


def read_vocab(folder: Path, vocab_size: int) -> Vocab:
    """Tokens, scores and types for ``vocab_size`` rows, plus special ids and add_* flags."""
    path = folder / "tokenizer.model"
    if not path.is_file():
        raise GemmaikuError(
            f"{folder} has no tokenizer.model (run `gemmaiku base` for a complete folder, or copy "
            "the SentencePiece tokenizer.model of the base model into it)"
        )
    proto = _load_proto(path)
    if len(proto.pieces) > vocab_size:
        raise GemmaikuError(
            f"tokenizer.model has {len(proto.pieces)} pieces but the model only {vocab_size} "
            "embedding rows (tokenizer and weights do not belong together)"
        )
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    scores = [PAD_SCORE] * vocab_size
    types = [UNUSED] * vocab_size
    for index, piece in enumerate(proto.pieces):
        kind = piece.type
        # user-defined pieces: llama.cpp matches them in raw text, so spaces are literal
        tokens[index] = piece.piece.replace(SPACE_MARK, " ") if kind == USER_DEFINED else piece.piece
        scores[index] = piece.score
        types[index] = kind

    config = _tokenizer_config(folder)
    for key, entry in config.get("added_tokens_decoder", {}).items():
        index, text = int(key), entry["content"]
        if index >= vocab_size:
            continue
        special = bool(entry.get("special"))
        tokens[index] = text if special else text.replace(SPACE_MARK, " ")
        types[index] = CONTROL if special else USER_DEFINED
        scores[index] = ADDED_TOKEN_SCORE

    lookup = {text: index for index, text in enumerate(tokens)}
    special_ids = {}
    for kind in SPECIAL_TOKENS:
        text = _token_text(config.get(f"{kind}_token"))
        if text is not None and text in lookup:
            special_ids[kind] = lookup[text]
    spec = proto.trainer_spec
    for kind, index in (("bos", spec.bos_id), ("eos", spec.eos_id), ("unk", spec.unk_id), ("pad", spec.pad_id)):
        if kind not in special_ids and 0 <= index < vocab_size:
            special_ids[kind] = index
    add_flags = {
        flag: bool(config.get(flag, default)) if isinstance(config.get(flag, default), bool) else default
        for flag, default in ADD_FLAGS.items()
    }
    return Vocab(tokens, scores, types, special_ids, add_flags)
