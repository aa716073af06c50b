"""Text -> sparse hashed n-gram features: word uni/bigrams and character 3-5-grams.

Hashing keeps the model a fixed-size weight vector (no vocabulary to ship) and makes a
decision a few hundred crc32 calls and one sparse dot product: well under a millisecond.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass

import numpy as np

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", re.IGNORECASE)


@dataclass(frozen=True)
class FeatureSpec:
    n_features: int = 1 << 18
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (3, 5)
    max_chars: int = 4000  # long pasted documents: the head carries the request

    def to_dict(self) -> dict:
        return {"n_features": self.n_features, "word_ngrams": list(self.word_ngrams),
                "char_ngrams": list(self.char_ngrams), "max_chars": self.max_chars}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        return cls(int(data["n_features"]), tuple(data["word_ngrams"]), tuple(data["char_ngrams"]),
                   int(data["max_chars"]))


def ngrams(text: str, spec: FeatureSpec) -> list[str]:
    text = text[: spec.max_chars].lower()
    words = WORD.findall(text)
    grams = []
    low, high = spec.word_ngrams
    for n in range(low, high + 1):
        grams.extend("w:" + " ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    low, high = spec.char_ngrams
    for word in words:
        padded = f" {word} "
        for n in range(low, high + 1):
            grams.extend("c:" + padded[i : i + n] for i in range(len(padded) - n + 1))
    # Shape features the n-grams miss: length, code and markup density.
    grams.append(f"len:{min(int(math.log2(len(text) + 1)), 14)}")
    grams.append(f"lines:{min(text.count(chr(10)), 8)}")
    for marker, name in (("```", "fence"), ("{", "brace"), ("<", "angle"), ("|", "pipe"), ("=", "equals")):
        if marker in text:
            grams.append(f"has:{name}")
    return grams


def featurize(text: str, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """(indices, values): log-scaled counts of hashed n-grams, L2-normalised."""
    counts: dict[int, float] = {}
    for gram in ngrams(text, spec):
        index = zlib.crc32(gram.encode("utf-8")) % spec.n_features
        counts[index] = counts.get(index, 0.0) + 1.0
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    indices = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    values = np.log1p(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
    values /= np.linalg.norm(values)
    return indices, values
