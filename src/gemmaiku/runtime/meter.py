"""Metered decoding: let the model end a line only where the line's syllables fit 5, 7 or 5.

A small fine-tuned model learns the haiku's *form* (three short lines, nothing else) long before
it learns to count. At each step :meth:`Meter.constrain` counts the syllables of the line being
written (with the project's own counter) and, on the logits of the next token:

* bans a line break, and the end of the reply, while the line is still short of its target;
* when a finished word (one followed by punctuation) brings the line exactly to its target, forces
  the line break (or, after the third line, the end of the reply);
* when the last word may be complete and the count fits, allows the break but does not force it,
  and allows nothing but finishing the word, punctuation, or the break;
* bans new words with more syllables than the line has room for;
* never allows an empty line, a token that breaks the line in its middle, or anything after the
  third line.

Words themselves stay the model's choice; only where lines end is steered. A line can still
overshoot when a word grows by continuation tokens ("beau" + "tiful"): :meth:`Meter.overshot`
says so, and search decoding (runtime.search) drops such a candidate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

HAIKU_METER = (5, 7, 5)
WORD_END = tuple(" ,;:.!?—–")
FINISHER = re.compile(r"[a-z']{1,8}|[.,;:!?—–]{1,2}")  # ends a word or a line, starts nothing new
CLEAN_BREAK = re.compile(r"[.,;:!?—–]{0,2}\n")  # a line break, perhaps after punctuation


@lru_cache(maxsize=4096)
def line_counts(line: str) -> tuple[int, ...]:
    from gemmaiku.prosody import line_syllables

    return tuple(line_syllables(line)[0]) if line.strip() else (0,)


@dataclass(frozen=True)
class VocabInfo:
    """What the meter needs to know of a vocabulary, computed once per model (seconds)."""

    newline_ids: np.ndarray  # every token whose text holds a line break
    break_ids: np.ndarray  # the clean line breaks among them ("\n", ",\n", ".\n" ...)
    newline_id: int  # the plain "\n"
    end_ids: np.ndarray  # end-of-generation tokens
    end_id: int  # <end_of_turn> where the vocabulary has it
    word_syllables: np.ndarray  # per token: syllables of the new word it starts, else 0
    finishers: np.ndarray  # per token: letters that continue a word, or punctuation

    @classmethod
    def from_pieces(cls, pieces: Sequence[str], *, newline_id: int, end_ids: Sequence[int],
                    end_id: int) -> VocabInfo:
        """From each token's text (SentencePiece style: U+2581 starts a word, <0x0A> is a byte)."""
        from gemmaiku.prosody import word_syllables

        texts = ["\n" if p == "<0x0A>" else p for p in pieces]
        word = np.zeros(len(texts), dtype=np.int16)
        finishers = np.zeros(len(texts), dtype=bool)
        for i, piece in enumerate(texts):
            if piece.startswith("\u2581"):
                rest = piece[1:]
                counts = word_syllables(rest) if rest.isalpha() else (1,)
                word[i] = max(1, min(counts))
            elif FINISHER.fullmatch(piece):
                finishers[i] = True
        newlines = [i for i, p in enumerate(texts) if "\n" in p]
        breaks = [i for i in newlines if CLEAN_BREAK.fullmatch(texts[i])]
        return cls(np.asarray(newlines, dtype=np.int64), np.asarray(breaks, dtype=np.int64), newline_id,
                   np.asarray(end_ids, dtype=np.int64), end_id, word, finishers)


class Meter:
    """Steers where the lines of a reply end; one per model (it keeps no state of a reply)."""

    def __init__(self, vocab: VocabInfo, meter: Sequence[int] = HAIKU_METER) -> None:
        self.vocab, self.meter = vocab, tuple(meter)

    def targets(self, text: str) -> tuple[int, str, int] | None:
        """(line index, current line, its target) for the reply ``text`` so far; None past the end."""
        lines = text.split("\n")
        index = len(lines) - 1
        return (index, lines[-1], self.meter[index]) if index < len(self.meter) else None

    def overshot(self, text: str) -> bool:
        """The current line already has more syllables than its target, whatever the reading."""
        where = self.targets(text)
        return where is not None and min(line_counts(where[1])) > where[2]

    def constrain(self, text: str, logits: np.ndarray) -> None:
        """Mask, in place, the next-token ``logits`` of a reply whose text so far is ``text``."""
        v = self.vocab
        where = self.targets(text)
        if where is None:
            only(logits, v.end_id)
            return
        index, current, target = where
        last = index == len(self.meter) - 1
        counts = line_counts(current)
        stop_ids, stop_id = (v.end_ids, v.end_id) if last else (v.break_ids, v.newline_id)
        stops = logits[stop_ids].copy()
        logits[v.newline_ids] = -np.inf  # only clean breaks, and only where a line may end
        if not last:
            logits[v.end_ids] = -np.inf  # no end of the reply before the last line
        if target in counts and current.endswith(WORD_END):
            only(logits, stop_id)
            return
        if target in counts:
            # The line is full: finish the word (letters), punctuate, or end the line; no new word.
            keep = v.finishers.copy()
            keep[stop_ids] = True
            logits[~keep] = -np.inf
            logits[stop_ids] = stops
            return
        if min(counts) > target:  # overshot: let it end (the validator has the last word)
            logits[stop_ids] = stops
            return
        logits[stop_ids] = -np.inf
        room = target - min(counts)
        logits[v.word_syllables > room] = -np.inf  # a new word longer than the room would overshoot


def only(logits: np.ndarray, token: int) -> None:
    logits[:] = -np.inf
    logits[token] = 0.0


VOCAB_CACHE_VERSION = 2  # bump when VocabInfo.from_pieces changes what it computes


@lru_cache(maxsize=8)
def vocab_info(model: Any) -> VocabInfo:
    """The meter's view of a ``llama_cpp._internals.LlamaModel``'s vocabulary, cached per model
    and on disk (counting 100k+ word pieces takes seconds; loading the table, milliseconds)."""
    import hashlib

    import llama_cpp

    from gemmaiku.paths import cache_dir

    n_vocab = model.n_vocab()
    pieces = [model.token_get_text(i) for i in range(n_vocab)]
    newline = model.tokenize(b"\n", add_bos=False, special=False)[-1]
    end_ids = [i for i in range(min(n_vocab, 1024)) if llama_cpp.llama_vocab_is_eog(model.vocab, i)]
    end_of_turn = model.tokenize(b"<end_of_turn>", add_bos=False, special=True)
    end_id = end_of_turn[0] if len(end_of_turn) == 1 and end_of_turn[0] in end_ids else end_ids[0]
    digest = hashlib.sha256("\0".join(pieces).encode("utf-8", "surrogatepass"))
    digest.update(f"{VOCAB_CACHE_VERSION}:{newline}:{end_ids}:{end_id}".encode())
    path = cache_dir() / "vocab" / f"{digest.hexdigest()[:32]}.npz"
    if path.is_file():
        try:
            with np.load(path) as table:
                return VocabInfo(table["newline_ids"], table["break_ids"], newline, table["end_ids"], end_id,
                                 table["word_syllables"], table["finishers"])
        except (OSError, KeyError, ValueError):
            pass  # a damaged cache file is rebuilt below
    info = VocabInfo.from_pieces(pieces, newline_id=newline, end_ids=end_ids, end_id=end_id)
    save_table(path, info)
    return info


def save_table(path: Path, info: VocabInfo) -> None:
    from gemmaiku.atomic import atomic_file

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as target, open(target, "wb") as handle:
        np.savez(handle, newline_ids=info.newline_ids, break_ids=info.break_ids, end_ids=info.end_ids,
                 word_syllables=info.word_syllables, finishers=info.finishers)
