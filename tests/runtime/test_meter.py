"""The meter steers where lines end; tested with a stand-in for llama.cpp's detokenizer."""

import numpy as np

from gemmaiku.runtime.meter import Meter, VocabInfo

VOCAB = ["<eos>", "<end_of_turn>", "\n", "\u2581old", "\u2581silent", "\u2581pond", "\u2581a", ",", "s", "\u2581frog",
         "\u2581jumps", "\u2581into", "\u2581the", "\u2581splash", "\u2581again", "\u5fbd", "\n\n", ",\n"]
METER = Meter(VocabInfo.from_pieces(VOCAB, newline_id=2, end_ids=[0, 1], end_id=1))


def text_of(ids: list[int]) -> str:
    return "".join(VOCAB[i] for i in ids).replace("\u2581", " ").replace("\n ", "\n").lstrip()


def step(text_ids: list[int]) -> np.ndarray:
    logits = np.zeros(len(VOCAB), dtype=np.float32)
    METER.constrain(text_of(text_ids), logits)
    return logits


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
    assert allowed(logits) == {"\n", ",", "s", ",\n"}


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


def test_vocabulary_table_knows_words_finishers_and_breaks():
    v = METER.vocab
    assert v.word_syllables[4] == 2 and v.word_syllables[11] == 2 and v.word_syllables[7] == 0
    assert v.finishers[7] and v.finishers[8] and not v.finishers[3]
    assert set(v.newline_ids) == {2, 16, 17} and set(v.break_ids) == {2, 17}  # "\n\n" is no clean break


def test_a_double_newline_is_never_allowed():
    assert "\n\n" not in allowed(step([3, 4, 5, 6]))
    assert "\n\n" not in allowed(step([3, 4, 5, 6, 7]))


def test_overshoot_is_reported_and_may_end():
    assert METER.overshot("old silent pond into") and not METER.overshot("old silent pond")
    assert "\n" in allowed(step([3, 4, 5, 11]))  # 6 of 5: the line may end, not forced
