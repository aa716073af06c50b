"""Syllable counts for words and lines: every plausible count, never a crash.

A line is cut into tokens (:data:`TOKEN_RE`): words (with inner apostrophes and hyphens),
numbers (with ``$``, ``%``, ``st``/``nd``/``rd``/``th``, ``s``) and a few spoken symbols
(:data:`SYMBOLS`). Everything else (punctuation, emoji) is silent. Each token gets the sorted
tuple of its plausible counts and the source they came from (:data:`SOURCES`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from gemmaiku.prosody import numbers
from gemmaiku.prosody.estimate import estimate, pronounceable
from gemmaiku.prosody.lexicon import cmu_counts

# What produced a token's counts, for the per-word breakdown.
SOURCES = ("cmudict", "estimate", "number", "spelled", "symbol", "contraction", "compound")

# Characters folded before tokenizing: curly quotes and apostrophes, dashes used as hyphens.
FOLD = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'",
                      "\u2010": "-", "\u2011": "-"})  # fmt: skip
# Letters NFKD does not split into a base letter and a mark.
LIGATURES = str.maketrans({"æ": "ae", "œ": "oe", "ß": "ss", "ø": "o", "ł": "l", "đ": "d",
                           "ð": "d", "þ": "th", "ı": "i", "Æ": "AE", "Œ": "OE", "Ø": "O"})  # fmt: skip
DIAERESIS = "\u0308"  # naïve, Zoë, coöperate: the marked vowel starts a new syllable

# Spoken symbols: (symbol, words).
SYMBOLS: dict[str, str] = {"&": "and", "@": "at", "+": "plus", "=": "equals", "%": "percent"}
# Letter names, for acronyms spelled out (F-B-I): every letter is one syllable but w.
LETTER_SYLLABLES = {"w": 3}
# Contractions and possessives the dictionary lacks: (suffix, stem ending after which the
# suffix is a syllable of its own). it'll, could've, it'd, fox's are one more; she'll, lov'd,
# robot's are not.
CONTRACTIONS: tuple[tuple[str, re.Pattern[str] | None], ...] = tuple(
    (suffix, re.compile(pattern) if pattern else None)
    for suffix, pattern in (
        ("n't", r"[^aeiouy]$"), ("'ll", r"[^aeiouy]$"), ("'ve", r"[^aeiouy]$"), ("'d", r"[td]$"),
        ("'s", r"(s|z|x|ch|sh|ce|ge|se|ze)$"), ("'re", None), ("'m", None),
    )
)  # fmt: skip
IRREGULAR_NT = {"wo": "woe", "ca": "can", "sha": "shall", "ai": "ay"}  # won't, can't, ain't

# Acronyms said as words that spelling rules would spell out or miscount.
ACRONYM_WORDS: dict[str, tuple[int, ...]] = {
    "json": (2,), "jpeg": (2,), "gif": (1,), "gui": (2,), "ascii": (2,), "yaml": (2,),
    "wysiwyg": (4,), "scsi": (2,), "png": (1, 3), "imho": (4,), "lmao": (2, 4),
}  # fmt: skip
CAMEL_CASE = re.compile(r"[a-z][A-Z]")
CAMEL_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|'[a-z]+")
ACRONYM_PLURAL = re.compile(r"([A-Z]{2,})'?s")
INITIALS = re.compile(r"([a-z]\.)+[a-z]?")
LETTER = r"[^\W\d_]"
WORD = rf"'?{LETTER}+(?:['.]{LETTER}+)*'?"  # o'clock, y'all, 'tis, goin', U.S
TOKEN_RE = re.compile(
    r"(?P<number>[$£€¥]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:%|st\b|nd\b|rd\b|th\b|'?s\b)?)"
    rf"|(?P<word>{WORD}(?:-{WORD})*)"
    rf"|(?P<symbol>[{re.escape(''.join(SYMBOLS))}])",
    re.IGNORECASE,
)
MAX_TOKEN = 40  # longer letter runs are not words: one syllable per three letters, cheaply


@dataclass(frozen=True)
class WordCount:
    """One token of a line: as written, its plausible syllable counts, and where they came from."""

    text: str
    counts: tuple[int, ...]
    source: str

    def to_dict(self) -> dict:
        return {"text": self.text, "counts": list(self.counts), "source": self.source}


def add_sets(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """All sums of one count from ``a`` and one from ``b`` (the counts of two words in a row)."""
    return tuple(sorted({x + y for x in a for y in b}))


def _sum_words(words: list[str]) -> tuple[int, ...]:
    total: tuple[int, ...] = (0,)
    for word in words:
        total = add_sets(total, _word(word)[0])
    return total


def fold(text: str) -> str:
    """Curly quotes to straight ones, ligatures to letters (keeps accents; NFC)."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", text).translate(FOLD).translate(LIGATURES)


def _strip_accents(word: str) -> tuple[str, list[int]]:
    """ASCII-ish letters of ``word`` and the positions where a diaeresis forces a new syllable."""
    out: list[str] = []
    breaks: list[int] = []
    for ch in unicodedata.normalize("NFKD", word):
        if unicodedata.combining(ch):
            if ch == DIAERESIS and out:
                breaks.append(len(out) - 1)
            continue
        out.append(ch)
    return "".join(out), breaks


def _spelled(letters: str) -> tuple[int, ...]:
    return (sum(LETTER_SYLLABLES.get(c, 1) for c in letters.lower()),)


@lru_cache(maxsize=200_000)
def _word(token: str) -> tuple[tuple[int, ...], str]:
    """Counts and source for one word token (letters, inner apostrophes, hyphens)."""
    if "-" in token.strip("-"):
        whole = cmu_counts(token.lower())
        if whole:
            return whole, "cmudict"
        parts = [p for p in token.split("-") if p]
        return _sum_words(parts), "compound"
    plain, breaks = _strip_accents(token)
    lower = plain.lower()
    found = cmu_counts(lower)
    letters = re.sub(r"[^a-z]", "", lower)
    plural = ACRONYM_PLURAL.fullmatch(plain)
    if plural and found is None:  # GPUs, CEO's: the letters, then an unstressed s
        return _word(plural.group(1))
    caps = plain.replace(".", "").replace("'", "")
    if caps.isupper() and len(caps) >= 2 and caps.isascii():
        acronym = _acronym(lower, letters, found, dotted="." in plain)
        if acronym:
            return acronym, "spelled"
    if found:
        return found, "cmudict"
    camel = CAMEL_PARTS.findall(plain) if CAMEL_CASE.search(plain) else []
    if len(camel) > 1 and "".join(camel) == plain:  # ChatGPT = Chat + GPT, OpenAI, TikTok
        return _sum_words(camel), "compound"
    if "'" in lower.strip("'"):
        return _contraction(lower)
    if lower.strip("'") != lower:
        inner = lower.strip("'")
        return _word(inner) if inner else ((0,), "symbol")
    if not letters:
        return _foreign(plain), "estimate"
    if "." in lower:  # e.g -> spelled initials; end.start -> two words
        if INITIALS.fullmatch(lower):
            return _spelled(letters), "spelled"
        return _sum_words([p for p in lower.split(".") if p]), "estimate"
    if breaks:  # naïve -> na + ive: the marked vowel starts a syllable
        cuts = [0, *sorted(set(breaks)), len(lower)]
        return _sum_words(
            [lower[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
        ), "estimate"
    return estimate(letters), "estimate"


def _acronym(
    lower: str, letters: str, found: tuple[int, ...] | None, dotted: bool
) -> tuple[int, ...] | None:
    """Counts of an all-caps token read as letters, or None to treat it as a word.

    NASA and FBI are in the dictionary. An unknown one is a word if :data:`ACRONYM_WORDS` says
    so (JSON), spelled if it does not read as a word (GPU, NSFW), and either when it is short
    (FAQ, DIY). Two letters in the dictionary (AI, US) may also be either."""
    spelled = _spelled(letters)
    if dotted:
        return spelled
    if found is not None:
        return tuple(sorted(set(found) | set(spelled))) if len(letters) == 2 else None
    if lower in ACRONYM_WORDS:
        return ACRONYM_WORDS[lower]
    if not pronounceable(letters):
        return spelled
    if len(letters) <= 3:
        return tuple(sorted(set(estimate(letters)) | set(spelled)))
    return None


def _contraction(lower: str) -> tuple[tuple[int, ...], str]:
    for suffix, syllabic_after in CONTRACTIONS:
        if lower.endswith(suffix) and len(lower) > len(suffix):
            stem = lower[: -len(suffix)]
            if suffix == "n't" and stem in IRREGULAR_NT:
                stem, extra = IRREGULAR_NT[stem], 0
            else:
                extra = int(bool(syllabic_after and syllabic_after.search(stem)))
            base, _ = _word(stem)
            return tuple(sorted({c + extra for c in base})), "contraction"
    joined = lower.replace("'", "")
    return (estimate(joined) if joined else (0,)), "contraction"


def _foreign(word: str) -> tuple[int, ...]:
    """Letters with no Latin spelling (e.g. kana, hanzi, Cyrillic): a rough count, never a crash."""
    wide = sum(1 for ch in word if unicodedata.east_asian_width(ch) in "WF")
    return (max(1, wide + (len(word) - wide + 2) // 3),)


def tokens(line: str) -> list[tuple[str, str]]:
    """``(kind, text)`` for each pronounced token of a line: kind is number, word or symbol."""
    out = []
    for match in TOKEN_RE.finditer(fold(line)):
        kind = match.lastgroup or "word"
        out.append((kind, match.group()))
    return out


@lru_cache(maxsize=200_000)
def token_counts(kind: str, text: str) -> WordCount:
    if kind == "symbol":
        return WordCount(text, _sum_words(SYMBOLS[text].split()), "symbol")
    if kind == "number":
        spoken = numbers.readings(text)
        if spoken is None:
            digits = re.sub(r"\D", "", text)
            spoken = [[numbers.ONES[int(d)] for d in digits]] if digits else [[]]
        counts = tuple(sorted({c for words in spoken for c in _sum_words(words)}))
        return WordCount(text, counts, "number")
    if len(text) > MAX_TOKEN:
        return WordCount(text, (max(1, len(text) // 3),), "estimate")
    counts, source = _word(text)
    return WordCount(text, counts, source)


def word_syllables(word: str) -> tuple[int, ...]:
    """Every plausible syllable count of a word or token, sorted: ``word_syllables("fire")``
    is ``(1, 2)``. A string of several tokens ("1999", "don't", "F.B.I.") gives all sums;
    punctuation and emoji give ``(0,)``."""
    return line_syllables(word)[0]


def line_syllables(line: str) -> tuple[tuple[int, ...], list[WordCount]]:
    """All plausible syllable totals of a line, and the per-token breakdown."""
    words = [token_counts(kind, text) for kind, text in tokens(line)]
    total: tuple[int, ...] = (0,)
    for w in words:
        total = add_sets(total, w.counts)
    return total, words


def clear_caches() -> None:
    """Forget every cached count (for benchmarks that measure cold lookups)."""
    from gemmaiku.prosody.estimate import _default

    _word.cache_clear()
    token_counts.cache_clear()
    _default().guess.cache_clear()
