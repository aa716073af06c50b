"""Hand-checked syllable counts: dictionary words, neologisms, numbers, contractions, acronyms."""

from __future__ import annotations

import pytest

from gemmaiku.prosody import line_syllables, word_syllables

# (token, the counts a careful reader accepts): every plausible count, nothing implausible.
EXACT = [
    # dictionary words with more than one pronunciation
    ("fire", (1, 2)),
    ("every", (2, 3)),
    ("hour", (1, 2)),
    ("flower", (1, 2)),  # smoothing: "flour"
    ("desire", (2, 3)),
    ("lion", (2,)),
    ("flowerbed", (3,)),
    ("pond", (1,)),
    ("silence", (2,)),
    # neologisms and compounds the dictionary lacks (or has, as with blockchain)
    ("moonbeam", (2,)),
    ("blockchain", (2,)),
    ("doomscroll", (2,)),
    ("doomscrolling", (3,)),
    ("unfollow", (3,)),
    ("microplastics", (4,)),
    ("vibecoding", (3,)),
    ("livestream", (2,)),
    ("staycation", (3,)),
    ("chatbot", (2,)),
    ("deepfake", (2,)),
    ("glamping", (2,)),
    ("uploaded", (3,)),
    # numbers as spoken
    ("3", (1,)),
    ("7", (2,)),
    ("42", (3,)),
    ("3rd", (1,)),
    ("21st", (3,)),
    ("1.5", (3,)),
    ("100%", (5,)),
    ("$5", (3,)),
    ("$1", (3,)),
    ("1,000,000", (3,)),
    ("80s", (2,)),
    # contractions, straight and curly
    ("doesn't", (2,)),
    ("don\u2019t", (1,)),
    ("I'm", (1,)),
    ("I\u2019m", (1,)),
    ("o'clock", (2,)),
    ("y'all", (1,)),
    ("\u2019tis", (1,)),
    ("can't", (1,)),
    ("won't", (1,)),
    ("doomscroll'd", (2,)),
    # acronyms: words when the dictionary has them or they read as words, else spelled out
    ("NASA", (2,)),
    ("FBI", (3,)),
    ("GPU", (3,)),
    ("NSFW", (6,)),
    ("HTML", (4,)),
    ("GPUs", (3,)),
    ("NYC", (3,)),
    ("JSON", (2,)),
    ("ChatGPT", (4,)),
    ("TikTok", (2,)),
    ("COVID", (2,)),
    ("CEO's", (3,)),
    ("U.S.A.", (3,)),
    ("F-B-I", (3,)),
    # accents and diaeresis
    ("naïve", (2,)),
    ("café", (2,)),
    ("Zoë", (2,)),
    ("fiancée", (3,)),
    # hyphenated
    ("well-known", (2,)),
    ("forty-two", (3,)),
    ("mother-in-law", (4,)),
    # silent tokens
    ("\U0001f642", (0,)),
    ("\u2014", (0,)),
    ("!!!", (0,)),
    ("", (0,)),
]


@pytest.mark.parametrize(("token", "counts"), EXACT)
def test_counts(token: str, counts: tuple[int, ...]) -> None:
    assert word_syllables(token) == counts


# (token, a count it must allow): readings where several counts are plausible.
ALLOWS = [
    ("1999", 5),  # nineteen ninety-nine
    ("1999", 9),  # one thousand nine hundred ninety-nine
    ("2026", 5),  # twenty twenty-six
    ("2026", 6),  # two thousand twenty-six
    ("résumé", 3),
    ("the", 1),
    ("it'll", 2),
    ("AI", 2),  # A-I
    ("DIY", 3),  # D-I-Y, short and unknown: spelled or read
    ("FAQ", 1),  # "fack"
    ("FAQ", 3),
    ("OpenAI", 4),
]


@pytest.mark.parametrize(("token", "count"), ALLOWS)
def test_allows(token: str, count: int) -> None:
    assert count in word_syllables(token)


def test_counts_are_sorted_unique_tuples() -> None:
    for token, _ in EXACT + ALLOWS:
        counts = word_syllables(token)
        assert isinstance(counts, tuple)
        assert list(counts) == sorted(set(counts))


def test_line_breakdown_names_sources() -> None:
    total, words = line_syllables("NASA's 3rd doomscroll, naïve FBI!")
    assert [w.text for w in words] == ["NASA's", "3rd", "doomscroll", "naïve", "FBI"]
    sources = {w.text: w.source for w in words}
    assert sources["3rd"] == "number"
    assert sources["doomscroll"] == "estimate"
    assert sources["FBI"] == "cmudict"
    assert total == (10,)
    assert words[0].to_dict() == {"text": "NASA's", "counts": [2], "source": "cmudict"}


def test_line_sums_every_combination() -> None:
    total, _ = line_syllables("fire every hour")  # (1,2) + (2,3) + (1,2)
    assert total == (4, 5, 6, 7)


def test_foreign_scripts_count_something() -> None:
    assert word_syllables("古池") == (2,)
    assert word_syllables("Привет")[0] >= 1
