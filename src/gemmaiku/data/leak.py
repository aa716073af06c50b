"""The near-copy rule that keeps held-out prompts out of training data.

Two prompts are *near copies* when their normalized texts (``corpus.normalize_text``: NFKC,
case-folded, punctuation and spacing collapsed)

1. are equal, or
2. share at least two word 5-grams, and the shared ones are more than half of the *longer* text's
   5-grams: mostly the same words in the same order ("a haiku about a bus stop in the rain" and
   "... in the early fog"), while a shared request template with a different subject ("can you
   write a haiku about the internet" and "... about a cracked teacup") is not a copy; or
3. the shorter text is a passage (at least 20 word 5-grams, about 24 words) and more than half of
   its 5-grams are in the other: a held-out text pasted into a longer prompt.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from gemmaiku.data.corpus import normalize_text

NGRAM = 5
MIN_SHARED = 2
MIN_COVERAGE = 0.5
PASSAGE_NGRAMS = 20
LEAK_RULE = (
    f"a user turn leaks when its normalized text equals a held-out prompt's; or when the two "
    f"share >= {MIN_SHARED} word {NGRAM}-grams covering > {MIN_COVERAGE:.0%} of the longer "
    f"text's {NGRAM}-grams; or when the shorter has >= {PASSAGE_NGRAMS} {NGRAM}-grams and "
    f"> {MIN_COVERAGE:.0%} of them are in the other"
)


def ngrams(normalized: str, n: int = NGRAM) -> frozenset[tuple[str, ...]]:
    words = normalized.split()
    return frozenset(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def is_near_copy(a: str, b: str) -> bool:
    """The rule above for two raw texts (the index below applies it to many at once)."""
    return HeldOut([(b, "")]).match(a) is not None


class HeldOut:
    """Held-out prompts (valid and test user turns, the evaluation suite), indexed for the rule."""

    def __init__(self, texts: Iterable[tuple[str, str]]) -> None:
        """``texts``: (prompt, where it comes from) pairs."""
        self._exact: dict[str, str] = {}
        self._grams: list[tuple[frozenset[tuple[str, ...]], str, str]] = []
        self._by_gram: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for text, origin in texts:
            key = normalize_text(text)
            self._exact.setdefault(key, origin)
            grams = ngrams(key)
            if len(grams) >= MIN_SHARED:
                for gram in grams:
                    self._by_gram[gram].append(len(self._grams))
                self._grams.append((grams, key, origin))

    def __len__(self) -> int:
        return len(self._exact)

    def match(self, text: str) -> str | None:
        """Where the held-out prompt that ``text`` nearly copies comes from, or None."""
        key = normalize_text(text)
        if key in self._exact:
            return self._exact[key]
        grams = ngrams(key)
        shared: dict[int, int] = defaultdict(int)
        for gram in grams:
            for index in self._by_gram.get(gram, ()):
                shared[index] += 1
        for index, count in shared.items():
            other = self._grams[index][0]
            shorter, longer = sorted((len(grams), len(other)))
            similar = count >= MIN_SHARED and count > MIN_COVERAGE * longer
            pasted = shorter >= PASSAGE_NGRAMS and count > MIN_COVERAGE * shorter
            if similar or pasted:
                return self._grams[index][2]
        return None
