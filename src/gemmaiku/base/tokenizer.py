"""Rebuild Gemma 3's SentencePiece tokenizer from a GGUF's ``tokenizer.ggml.*`` arrays.

llama.cpp keeps the vocabulary (pieces, scores, types) but not the ``tokenizer.model`` protobuf.
Its converter needs that file to write the original ``llama`` vocabulary back (without it, it
falls back to a ``gpt2`` BPE vocabulary that differs from the source), so we rebuild it, and
declare the added tokens in ``tokenizer_config.json`` as the original Gemma 3 folder does.
"""

from __future__ import annotations

from typing import Any

from gemmaiku.base.gguf_io import GGUFVocab

SPACE_MARK = "\u2581"  # SentencePiece's visible space

# GGUF token types follow SentencePiece's piece types (llama.cpp's LLAMA_TOKEN_TYPE_*).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# The trainer and normalizer settings of Gemma 3's own tokenizer.model: BPE with byte fallback,
# digits split, whitespace kept verbatim (no dummy prefix, no collapsing of runs).
TRAINER_SPEC: dict[str, Any] = dict(
    model_type=2,  # BPE
    byte_fallback=True,
    split_digits=True,
    allow_whitespace_only_pieces=True,
    split_by_whitespace=False,
)
NORMALIZER_SPEC: dict[str, Any] = dict(
    name="identity",
    add_dummy_prefix=False,
    remove_extra_whitespaces=False,
    escape_whitespaces=True,
)


def _is_space_run(text: str) -> bool:
    return bool(text) and set(text) == {" "}


def piece_text(text: str, token_type: int) -> str:
    """GGUF stores user-defined whitespace runs with literal spaces; SentencePiece with U+2581."""
    return text.replace(" ", SPACE_MARK) if token_type == USER_DEFINED and _is_space_run(text) else text


def piece_type(token_id: int, token_type: int, unk_id: int) -> int:
    # llama.cpp's converter stores <unk> as CONTROL (it is declared special); SentencePiece
    # needs exactly one UNKNOWN piece.
    return UNKNOWN if token_id == unk_id else token_type


def build_sentencepiece_model(vocab: GGUFVocab) -> bytes:
    """Serialise a SentencePiece ModelProto equivalent to the GGUF's vocabulary."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    model = pb.ModelProto()
    for index, (text, score, kind) in enumerate(
        zip(vocab.tokens, vocab.scores, vocab.token_types, strict=True)
    ):
        piece = model.pieces.add()
        piece.piece = piece_text(text, kind)
        piece.score = score
        piece.type = piece_type(index, kind, vocab.unk_id)
    for key, value in TRAINER_SPEC.items():
        setattr(model.trainer_spec, key, value)
    spec = model.trainer_spec
    spec.vocab_size = len(vocab.tokens)
    spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id = (
        vocab.unk_id, vocab.bos_id, vocab.eos_id, vocab.pad_id,
    )
    spec.unk_piece = vocab.tokens[vocab.unk_id]
    spec.bos_piece = vocab.tokens[vocab.bos_id]
    spec.eos_piece = vocab.tokens[vocab.eos_id]
    spec.pad_piece = vocab.tokens[vocab.pad_id]
    for key, value in NORMALIZER_SPEC.items():
        setattr(model.normalizer_spec, key, value)
    return model.SerializeToString()


def added_tokens_decoder(vocab: GGUFVocab) -> dict[str, dict[str, Any]]:
    """``tokenizer_config.json``'s added tokens: every control (special) and user-defined piece.

    llama.cpp's converter reads these back: special -> CONTROL, otherwise USER_DEFINED with
    U+2581 turned into spaces, score -1000. Together with tokenizer.model this reproduces the
    source GGUF's tokens, scores and types exactly.
    """
    out: dict[str, dict[str, Any]] = {}
    for index, (text, kind) in enumerate(zip(vocab.tokens, vocab.token_types, strict=True)):
        if kind not in (CONTROL, USER_DEFINED):
            continue
        out[str(index)] = {
            "content": piece_text(text, kind),
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": kind == CONTROL,
        }
    return out
