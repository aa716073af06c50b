"""Properties over arbitrary Unicode: never a crash, and the verdict is self-consistent."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from gemmaiku.prosody import check_haiku, line_syllables, word_syllables
from gemmaiku.prosody.cli import split_blocks

# Arbitrary text, plus text built from pieces the tokenizer treats specially.
PIECES = st.sampled_from([
    "fire", "NASA", "GPUs", "naïve", "’tis", "y'all", "1999", "$5.50", "3rd", "100%", "-",
    "'", "’", ".", "\u0308", "🙂", "\n", " ", "e.g.", "U.S.", "co-op", "\x00", "\ufeff", "Σ",
    "ß", "İ", "ﬁ", "１２", "٣", "²", "Ⅻ",
])  # fmt: skip
TEXT = st.one_of(st.text(max_size=300), st.lists(PIECES, max_size=40).map("".join))


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_word_syllables_never_crashes(text: str) -> None:
    counts = word_syllables(text)
    assert counts and all(isinstance(c, int) and c >= 0 for c in counts)
    assert list(counts) == sorted(set(counts))


@settings(max_examples=300, deadline=None)
@given(TEXT, st.booleans())
def test_check_haiku_never_crashes_and_is_consistent(text: str, strict: bool) -> None:
    verdict = check_haiku(text, strict=strict)
    assert verdict.ok == (verdict.distance == 0)
    assert verdict.ok == (verdict.reasons == [])
    assert verdict.distance >= 0
    json.dumps(verdict.to_dict())
    if strict and verdict.ok:
        assert check_haiku(text, strict=False).ok


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["fire", "every", "hour", "pond", "the"]), max_size=8))
def test_line_total_is_the_sum_of_its_words(words: list[str]) -> None:
    total, parts = line_syllables(" ".join(words))
    assert min(total) == sum(min(p.counts) for p in parts)
    assert max(total) == sum(max(p.counts) for p in parts)


@given(st.text(max_size=200))
def test_split_blocks_keeps_every_non_blank_line(text: str) -> None:
    lines = [ln for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if ln.strip()]
    assert [ln for b in split_blocks(text) for ln in b.split("\n")] == lines
