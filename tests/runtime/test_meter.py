"""The meter steers where lines end; tested with a stand-in for llama.cpp's detokenizer."""

import numpy as np

from gemmaiku.runtime.meter import MeterProcessor

VOCAB = ["<eos>", "<end_of_turn>", "\n", "\u2581old", "\u2581silent", "\u2581pond", "\u2581a", ",", "s", "\u2581frog",
         "\u2581jumps", "\u2581into", "\u2581the", "\u2581splash", "\u2581again", "\u5fbd"]


class FakeVocab:
    newline_ids, newline_id, end_ids, end_id = [2], 2, [0, 1], 1
    word_syllables = np.array([0, 0, 0, 1, 2, 1, 1, 0, 0, 1, 1, 2, 1, 1, 2, 0], dtype=np.int16)
    finishers = np.array([False, False, False, False, False, False, False, True, True, False, False, False, False,
                          False, False, False])


class FakeLlama:
    def detokenize(self, ids):
        return "".join(VOCAB[i] for i in ids).replace("\u2581", " ").lstrip().encode()


def step(text_ids: list[int]) -> np.ndarray:
    processor = MeterProcessor(FakeLlama(), 0, FakeVocab())
    return processor(np.array(text_ids), np.zeros(len(VOCAB), dtype=np.float32))


def allowed(logits: np.ndarray) -> set[str]:
    return {VOCAB[i] for i in np.flatnonzero(np.isfinite(logits))}


def test_a_short_line_cannot_end_and_long_words_are_refused():
    logits = step([3, 4])  # "old silent": 3 of 5
    assert "\n" not in allowed(logits) and "<end_of_turn>" not in allowed(logits)
    assert "\u2581pond" in allowed(logits) and "\u2581into" in allowed(logits)  # 1 or 2 more fit
    logits = step([3, 4, 5])  # 4 of 5: only one-syllable words
    assert "\u2581into" not in allowed(logits) and "\u2581a" in allowed(logits)


def test_a_full_line_ends_or_finishes_its_word_but_starts_no_new_one():
    logits = step([3, 4, 5, 6])  # "old silent pond a": 5
    assert allowed(logits) == {"\n", ",", "s"}


def test_a_full_line_after_a_comma_is_forced_to_break():
    assert allowed(step([3, 4, 5, 6, 7])) == {"\n"}


def test_the_last_line_ends_the_reply_instead_of_breaking():
    lines = [3, 4, 5, 6, 2, 9, 10, 11, 12, 5, 2]  # 5 and 7 done
    assert "\n" not in allowed(step(lines + [13, 14]))  # 3 of 5: no break, no end
    assert allowed(step(lines + [13, 14, 12, 5, 7])) == {"<end_of_turn>"}


def test_no_empty_lines_and_nothing_after_the_third():
    assert "\n" not in allowed(step([3, 4, 5, 6, 2]))
    done = [3, 4, 5, 6, 2, 9, 10, 11, 12, 5, 2, 13, 14, 12, 5, 2]
    assert allowed(step(done)) == {"<end_of_turn>"}
