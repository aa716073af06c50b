"""Syllables of a word the dictionary does not know: morphology over known words, then spelling.

In order, the first that applies wins:

1. a known stem plus a suffix from :data:`SUFFIXES` (*doomscrolling* = *doomscroll* + *ing*,
   recursively, so unknown stems are analysed too),
2. a known prefix from :data:`PREFIXES` plus a known word (*unfollow*),
3. two known words (*moonbeam*, *blockchain*, *doomscroll*),
4. spelling rules (:mod:`gemmaiku.prosody.rules`).

"Known" means in the lexicon the :class:`Estimator` was built with: all of CMUdict at run time,
only the tuning split when the benchmark measures accuracy on held-out words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from gemmaiku.prosody.rules import estimate_rules

# (suffix, stems to try as (letters cut, letters appended), syllables the suffix adds, and
# syllables it adds after a t/d sound). Longest suffix first; the first known stem wins.
SUFFIXES: tuple[tuple[str, tuple[tuple[int, str], ...], int, int], ...] = (
    ("ically", ((4, ""),), 1, 1),  # basically = basic + ly
    ("ings", ((4, ""), (4, "e"), (5, "")), 1, 1),
    ("ness", ((4, ""), (5, "y")), 1, 1),
    ("less", ((4, ""),), 1, 1),
    ("ment", ((4, ""),), 1, 1),
    ("ship", ((4, ""),), 1, 1),
    ("hood", ((4, ""),), 1, 1),
    ("able", ((4, ""), (4, "e")), 2, 2),
    ("ing", ((3, ""), (3, "e"), (4, "")), 1, 1),
    ("ied", ((3, "y"),), 0, 0),
    ("ies", ((3, "y"),), 0, 0),
    ("ers", ((3, ""), (2, ""), (4, "")), 1, 1),
    ("est", ((3, ""), (2, ""), (4, "")), 1, 1),
    ("ily", ((3, "y"),), 1, 1),
    ("ful", ((3, ""),), 1, 1),
    ("ism", ((3, ""),), 2, 2),
    ("ist", ((3, ""),), 1, 1),
    ("ed", ((2, ""), (1, ""), (3, "")), 0, 1),
    ("er", ((2, ""), (1, ""), (3, "")), 1, 1),
    ("es", ((2, ""),), 1, 1),
    ("ly", ((2, ""),), 1, 1),
    ("s", ((1, ""),), 0, 0),
)
NOT_PLURAL = ("ss", "us", "is")  # glass, campus, thesis: a final s that is not a suffix
PREFIXES: dict[str, int] = {
    "un": 1, "re": 1, "pre": 1, "dis": 1, "mis": 1, "non": 1, "over": 2, "under": 2, "out": 1,
    "sub": 1, "super": 2, "anti": 2, "inter": 2, "counter": 2, "micro": 2, "mega": 2, "cyber": 2,
    "hyper": 2, "multi": 2, "post": 1, "self": 1, "semi": 2, "ultra": 2, "auto": 2, "co": 1,
}  # fmt: skip
MIN_PART = 3  # shortest known word accepted as a stem or the left of a compound (the right: 4)

# Onsets (word-initial consonant clusters) English allows: an all-caps token not in the
# dictionary reads as a word only if it starts with one (and ends without three consonants);
# else it is spelled out (GPU, NSFW).
# fmt: off
ONSETS = frozenset({
    "", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "q", "r", "s", "t", "v",
    "w", "x", "z", "bl", "br", "ch", "cl", "cr", "dr", "dw", "fl", "fr", "gl", "gn", "gr", "kl",
    "kn", "kr", "ph", "pl", "pr", "qu", "sc", "sh", "sk", "sl", "sm", "sn", "sp", "st", "sw",
    "th", "tr", "tw", "wh", "wr", "sch", "scr", "shr", "spl", "spr", "squ", "str", "thr",
})
# fmt: on


def pronounceable(word: str) -> bool:
    """Whether an all-caps letter string reads as a word (NASA, SCUBA) rather than letters (FBI)."""
    w = word.lower()
    m = re.match(r"^([^aeiouy]*)([aeiouy].*)$", w)
    if not m or m.group(1) not in ONSETS or len(w) < 3 or not re.search(r"[aeiou]", w):
        return False
    return re.search(r"[^aeiouy]{4,}", w) is None and re.search(r"[^aeiouy]{3}$", w) is None


Guess = tuple[int, tuple[int, ...]]  # (most likely count, every plausible count, sorted)
SYLLABIC_LE = re.compile(r"[^aeiouy]le$")  # startle + ing: "startling" is 2 (or 3) syllables
SUFFIX_AFTER_LE = ("ing", "ings", "er", "ers", "est")


def _shift(guess: Guess, extras: tuple[int, ...]) -> Guess:
    primary, counts = guess
    return primary + extras[0], tuple(sorted({c + e for c in counts for e in extras}))


class Estimator:
    """Syllable estimates for unknown words, using ``lexicon`` (word -> sorted counts) as the
    known words; ``primary`` (word -> count of the first pronunciation) picks the best guess."""

    def __init__(
        self,
        lexicon: Mapping[str, tuple[int, ...]],
        primary: Mapping[str, int] | None = None,
        min_compound: int = MIN_PART,
    ):
        self.lexicon = lexicon
        self.primary = primary or {}
        self.min_compound = min_compound  # shortest half of a compound
        self.guess = lru_cache(maxsize=100_000)(self._guess)

    def _known(self, word: str) -> Guess | None:
        counts = self.lexicon.get(word) if len(word) >= MIN_PART else None
        return (self.primary.get(word, counts[0]), counts) if counts else None

    def _part(self, word: str) -> Guess | None:
        """A known word usable as half of a compound: its spelling must agree with its
        pronunciation, which rules out acronyms (``est``) and suffix-like words (``ion``)."""
        known = self._known(word)
        return known if known and estimate_rules(word)[0] in known[1] else None

    def _stem(self, word: str, depth: int, known_only: bool) -> Guess | None:
        """``word`` if it is known, or (unless ``known_only``) can be analysed further."""
        known = self._known(word)
        if known or known_only or depth >= 2:
            return known
        return self._analyse(word, depth + 1)

    def _suffixed(self, word: str, depth: int, known_only: bool) -> Guess | None:
        for suffix, stems, plus, plus_td in SUFFIXES:
            if not word.endswith(suffix) or len(word) - len(suffix) < 2:
                continue
            if suffix == "s" and word.endswith(NOT_PLURAL):
                continue
            for cut, append in stems:
                stem = word[:-cut] + append
                if cut == len(suffix) + 1 and (
                    word[-cut] != word[-cut - 1] or word[-cut] in "aeiouy"
                ):
                    continue  # undoubling only for stopped, running (not deer)
                if cut == len(suffix) - 1 and not re.search(r"[^aeiouy]e$", stem):
                    continue  # baked = bake + d, but not jeer = jee + r
                found = self._stem(stem, depth, known_only)
                if not found:
                    continue
                extra = plus_td if stem[-1:] in "td" or stem.endswith(("te", "de")) else plus
                if suffix in ("s", "es"):  # -es is heard only after a hissing sound
                    extra = int(bool(re.search(r"(s|x|z|ch|sh|[cgsz]e)$", stem)))
                    if suffix == "es" and not extra:
                        continue
                if suffix in SUFFIX_AFTER_LE and SYLLABIC_LE.search(stem):
                    return _shift(found, (0, 1))
                return _shift(found, (extra,))
        return None

    def _prefixed(self, word: str) -> Guess | None:
        for prefix, plus in PREFIXES.items():
            if word.startswith(prefix) and len(word) - len(prefix) >= 4:
                found = self._known(word[len(prefix) :])
                if found:
                    return _shift(found, (plus,))
        return None

    def _compound(self, word: str) -> Guess | None:
        shortest = self.min_compound
        for cut in range(len(word) - shortest, shortest - 1, -1):
            if cut < MIN_PART + 1 and len(word) - cut < MIN_PART + 1:
                continue  # two three-letter halves are mostly coincidences (rub + bed)
            left, right = self._part(word[:cut]), self._part(word[cut:])
            if left and right:
                return left[0] + right[0], tuple(sorted({a + b for a in left[1] for b in right[1]}))
        return None

    def _analyse(self, word: str, depth: int = 0) -> Guess | None:
        """Direct evidence first (a known stem, prefix or two known words), then suffixes on
        stems that need analysing themselves (doomscrolling = doom + scroll + ing)."""
        return (
            self._suffixed(word, depth, known_only=True)
            or self._prefixed(word)
            or self._compound(word)
            or self._suffixed(word, depth, known_only=False)
        )

    def _guess(self, word: str) -> Guess:
        return self._analyse(word) or estimate_rules(word)


@lru_cache(maxsize=1)
def _default() -> Estimator:
    from gemmaiku.prosody.lexicon import cmu_primary_table, cmu_table

    return Estimator(cmu_table(), cmu_primary_table())


def estimate(word: str) -> tuple[int, ...]:
    """Plausible syllable counts of an unknown lower-case alphabetic word, sorted."""
    return _default().guess(word)[1]



WORD_COMPOUND_PART = 4  # for telling words from fragments: boo + keeper is not "bookeeper"


@lru_cache(maxsize=1)
def _strict() -> Estimator:
    from gemmaiku.prosody.lexicon import cmu_primary_table, cmu_table

    return Estimator(cmu_table(), cmu_primary_table(), min_compound=WORD_COMPOUND_PART)


def analysable(word: str) -> bool:
    """Whether an unknown lower-case word is made of known parts (a stem and a suffix, a prefix
    and a word, two words of four letters or more): a real word the dictionary lacks
    (doomscrolling), not a fragment or a misspelling (waikana, bookeeper)."""
    return _strict()._analyse(word) is not None
