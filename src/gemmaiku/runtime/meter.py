"""Metered decoding: let the model end a line only where the line's syllables fit 5, 7 or 5.

A small fine-tuned model learns the haiku's *form* (three short lines, nothing else) long before
it learns to count. At each step this logits processor counts the syllables of the line being
written (with the project's own counter) and:

* bans a line break, and the end of the reply, while the line is still short of its target;
* when a finished word brings the line exactly to its target, forces the line break (or, after
  the third line, the end of the reply);
* when the last word may be complete and the count fits, allows the break but does not force it;
* never allows an empty line, and ends the reply after the third line.

Words themselves stay the model's choice; only where lines end is steered. A line that overshoots
is left alone (the validator, and guarded generation's retries, deal with it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

HAIKU_METER = (5, 7, 5)
WORD_END = tuple(" ,;:.!?—–")
FINISHER = re.compile(r"[a-z']{1,8}|[.,;:!?—–]{1,2}")  # ends a word or a line, starts nothing new


@lru_cache(maxsize=4096)
def line_counts(line: str) -> tuple[int, ...]:
    from gemmaiku.prosody import line_syllables

    return tuple(line_syllables(line)[0]) if line.strip() else (0,)


class MeterProcessor:
    """A llama-cpp-python logits processor; one per generation (it remembers the prompt length)."""

    def __init__(self, llama, prompt_len: int, vocab: VocabInfo, meter: Sequence[int] = HAIKU_METER) -> None:
        self.llama, self.prompt_len, self.meter = llama, prompt_len, tuple(meter)
        self.newline_ids = np.asarray(vocab.newline_ids, dtype=np.int64)
        self.end_ids = np.asarray(vocab.end_ids, dtype=np.int64)
        self.newline_id, self.end_id = vocab.newline_id, vocab.end_id
        self.word_syllables = vocab.word_syllables  # per token: syllables of the new word it starts, else 0
        self.finishers = vocab.finishers  # per token: letters that continue a word, or punctuation

    def text(self, input_ids: np.ndarray) -> str:
        generated = [int(t) for t in input_ids[self.prompt_len:]]
        return self.llama.detokenize(generated).decode("utf-8", errors="ignore") if generated else ""

    def __call__(self, input_ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        lines = self.text(input_ids).split("\n")
        index, current = len(lines) - 1, lines[-1]
        last = index == len(self.meter) - 1
        if index >= len(self.meter):
            return self.only(logits, self.end_id)
        counts = line_counts(current)
        target = self.meter[index]
        stop_ids, stop_id = (self.end_ids, self.end_id) if last else (self.newline_ids, self.newline_id)
        other_ids = self.newline_ids if last else self.end_ids
        logits = logits.copy()
        logits[other_ids] = -np.inf  # no line break inside the last line; no end before it
        if not current.strip() or max(counts) < target:
            logits[stop_ids] = -np.inf
        elif target in counts and current.endswith(WORD_END):
            return self.only(logits, stop_id)
        elif target not in counts and min(counts) < target:
            logits[stop_ids] = -np.inf
        if current.strip() and target in counts:
            # The line is full: finish the word (letters), punctuate, or end the line; no new word.
            keep = self.finishers.copy()
            keep[stop_ids] = True
            logits[~keep] = -np.inf
        elif min(counts) < target:
            room = target - min(counts)  # a new word longer than the room left would overshoot
            logits[self.word_syllables > room] = -np.inf
        return logits

    @staticmethod
    def only(logits: np.ndarray, token: int) -> np.ndarray:
        forced = np.full_like(logits, -np.inf)
        forced[token] = 0.0
        return forced


class VocabInfo:
    """What the meter needs to know of a vocabulary, computed once per model (~seconds)."""

    def __init__(self, llama) -> None:
        import llama_cpp

        from gemmaiku.prosody import word_syllables

        model = llama._model
        pieces = [model.token_get_text(i) for i in range(llama.n_vocab())]
        self.newline_ids = [i for i, p in enumerate(pieces) if "\n" in p or p == "<0x0A>"]
        self.newline_id = llama.tokenize(b"\n", add_bos=False, special=False)[-1]
        self.end_ids = [i for i in range(min(len(pieces), 1024)) if llama_cpp.llama_vocab_is_eog(model.vocab, i)]
        end_of_turn = llama.tokenize(b"<end_of_turn>", add_bos=False, special=True)
        self.end_id = end_of_turn[0] if len(end_of_turn) == 1 and end_of_turn[0] in self.end_ids else self.end_ids[0]
        self.word_syllables = np.zeros(len(pieces), dtype=np.int16)
        self.finishers = np.zeros(len(pieces), dtype=bool)
        for i, piece in enumerate(pieces):
            if piece.startswith("\u2581"):  # SentencePiece: starts a new word
                word = piece[1:]
                counts = word_syllables(word) if word.isalpha() else (1,)
                self.word_syllables[i] = max(1, min(counts))
            elif FINISHER.fullmatch(piece):
                self.finishers[i] = True


@lru_cache(maxsize=8)
def vocab_info(llama) -> VocabInfo:
    return VocabInfo(llama)


def meter_processor(llama, prompt_len: int, meter: Sequence[int] = HAIKU_METER):
    from llama_cpp import LogitsProcessorList

    return LogitsProcessorList([MeterProcessor(llama, prompt_len, vocab_info(llama), meter)])
