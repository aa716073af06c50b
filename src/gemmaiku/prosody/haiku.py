"""The strict 5-7-5 check: a verdict with the lines, their counts, and named reasons.

``check_haiku(text)`` passes only a bare haiku: exactly three non-empty lines, each with some
plausible pronunciation of 5, 7 and 5 syllables, and nothing else (no preamble, title,
postscript, markdown or surrounding quotes). ``strict=False`` first strips that chatter, for
ranking model outputs that are nearly right.

Distance (for ranking, 0 exactly when ``ok``): for each of the first three haiku lines, how far
its closest plausible count is from the target; plus :data:`LINE_PENALTY` per missing or extra
line; plus :data:`CHATTER_PENALTY` per chatter line or prose finding (strict mode).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gemmaiku.prosody.syllables import WordCount, fold, line_syllables

TARGETS = (5, 7, 5)
LINE_PENALTY = 5
CHATTER_PENALTY = 3
MAX_CHARS = 1000  # a block longer than this is prose, not a haiku; it is not counted
MAX_LINE_WORDS = 14  # a haiku line this long is a sentence, not a line
PROSE_WORDS = 20  # fewer than three lines holding this many words: a paragraph

HAIKU_WORD = r"(?:haiku|haikus|poem|verse|poetry)"
# (kind, pattern) checked on each stripped, lower-cased line; the first match names the line.
# Patterns need either a word about the poem itself or assistant phrasing, so a haiku line that
# merely starts with "Here" ("Here the river bends") is not chatter.
CHATTER: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("markdown", r"^(```|#{1,6}\s|>\s|[-*+]\s|\d+[.)]\s|\*\*.*\*\*$|__.*__$|---+$|===+$)"),
        ("title", r"^(title|haiku|poem)\s*(#?\d+)?\s*[:\-–—]"),
        ("preamble", r"^(sure|certainly|of course|absolutely|okay|ok|alright|yes|great|"
                     r"happy to|glad to|gladly)\b[^a-z]*[!.,:]"),
        ("preamble", rf"^(here('s| is| are| goes)|below is|this is|i('ve| have) (written|"
                     rf"composed|crafted)|let me|allow me|i'd be|i would be)\b.*{HAIKU_WORD}"),
        ("preamble", rf"\b(a|an|my|your|the following|one|this)\s+(\w+\s+)?{HAIKU_WORD}\b"
                     rf"(\s+(about|on|for|of|inspired|capturing)\b.*)?[:.!]?$"),
        ("preamble", r"^here('s| is| are) (a|an|your|my|the following|some)\b.*:$"),
        ("postscript", r"^(i hope|hope (you|this|that)|enjoy|let me know|feel free|would you "
                       r"like|if you('d| would)|note\s*:|p\.?s\.?\b|this haiku|the haiku|in this "
                       r"haiku|the (first|second|third|last) line|explanation\s*:|"
                       r"(syllable|syllables)\s*(count)?\s*:)"),
        ("postscript", r"\(\s*\d\s*[-/,]\s*\d\s*[-/,]\s*\d\s*\)$|\b5\s*-\s*7\s*-\s*5\b"),
    )
)
QUOTES = {'"': '"', "\u201c": "\u201d", "'": "'", "\u2018": "\u2019", "«": "»"}
MARKUP = re.compile(r"^\s*(?:[*_]{1,3}|>\s*)|(?:[*_]{1,3})\s*$")


@dataclass
class LineReport:
    """One line of the poem: its text, syllable counts, words, and target (None if extra)."""

    text: str
    counts: tuple[int, ...]
    words: list[WordCount]
    target: int | None

    @property
    def closest(self) -> int:
        if self.target is None:
            return self.counts[0]
        return min(self.counts, key=lambda c: (abs(c - self.target), c))

    @property
    def ok(self) -> bool:
        return self.target is not None and self.target in self.counts

    def to_dict(self) -> dict:
        return {
            "text": self.text, "target": self.target, "counts": list(self.counts),
            "closest": self.closest, "ok": self.ok, "words": [w.to_dict() for w in self.words],
        }  # fmt: skip


@dataclass
class Failure:
    """A named reason: ``code`` is one of line_count, syllables, chatter, prose, empty."""

    code: str
    message: str


@dataclass
class HaikuVerdict:
    """Result of :func:`check_haiku`. ``ok`` is strict 5-7-5; ``distance`` is 0 when ok."""

    text: str
    lines: list[LineReport]
    failures: list[Failure] = field(default_factory=list)
    chatter: list[str] = field(default_factory=list)
    distance: int = 0
    strict: bool = True

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def reasons(self) -> list[str]:
        return [f.message for f in self.failures]

    @property
    def line_counts(self) -> list[tuple[int, ...]]:
        return [line.counts for line in self.lines]

    def to_dict(self) -> dict:
        return {
            "ok": self.ok, "distance": self.distance, "strict": self.strict,
            "reasons": self.reasons, "codes": [f.code for f in self.failures],
            "chatter": self.chatter, "lines": [line.to_dict() for line in self.lines],
            "text": self.text,
        }  # fmt: skip


def chatter_kind(line: str) -> str | None:
    """Why a line is chatter around a poem rather than part of it, or None."""
    text = fold(line).strip().lower()
    for kind, pattern in CHATTER:
        if pattern.search(text):
            return kind
    return None


def _unquote(lines: list[str]) -> tuple[list[str], bool]:
    """Remove quotes wrapping the whole poem (or every line); say whether there were any."""
    if not lines:
        return lines, False
    first, last = lines[0].lstrip(), lines[-1].rstrip()
    close = QUOTES.get(first[:1])
    if close and last.endswith(close) and (len(lines) > 1 or len(first) > 1):
        lines = [first[1:], *lines[1:-1], last[:-1]] if len(lines) > 1 else [first[1:-1]]
        return [ln.strip() for ln in lines], True
    return lines, False


def _strip_markup(line: str) -> str:
    return MARKUP.sub("", line).strip()


def check_haiku(text: str, *, strict: bool = True) -> HaikuVerdict:
    """Check ``text`` is a 5-7-5 haiku: three lines, nothing else. Never raises on any str."""
    failures: list[Failure] = []
    if len(text) > MAX_CHARS:
        return HaikuVerdict(
            text[:MAX_CHARS], [], [Failure("prose", f"prose: {len(text)} characters is not a "
                                           f"haiku (over {MAX_CHARS})")],
            distance=LINE_PENALTY * 3 + CHATTER_PENALTY, strict=strict,
        )  # fmt: skip
    raw = [ln.strip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [ln for ln in raw if ln]
    if not lines:
        return HaikuVerdict(text, [], [Failure("empty", "empty: no text")],
                            distance=LINE_PENALTY * 3, strict=strict)  # fmt: skip
    chatter: list[str] = []
    lines, quoted = _unquote(lines)
    if quoted:
        chatter.append("quotes around the poem")
    body: list[str] = []
    for line in lines:
        kind = chatter_kind(line)
        if kind is None and _title_like(line, lines, raw):
            kind = "title"
        if kind:
            chatter.append(f"{kind}: {line[:60]}")
        else:
            body.append(line)
    stripped = [_strip_markup(ln) for ln in body]
    if any(s != b for s, b in zip(stripped, body, strict=True)):
        chatter.append("markdown emphasis")
    body = [ln for ln in stripped if ln]
    prose = _prose(body)
    counted = body if (strict and not chatter) or not strict else body
    reports = [
        LineReport(ln, *line_syllables(ln), TARGETS[i] if i < 3 else None)
        for i, ln in enumerate(counted)
    ]
    shown = lines if strict else body
    if strict and chatter:
        failures += [Failure("chatter", f"chatter: {c}") for c in chatter]
    if prose:
        failures.append(Failure("prose", prose))
    n = len(shown)
    if n != 3:
        failures.append(Failure("line_count", f"expected 3 lines, got {n}"))
    for i, rep in enumerate(reports[:3]):
        if not rep.ok:
            failures.append(Failure(
                "syllables", f"line {i + 1} has {rep.closest} syllables (needs {rep.target})"))
    distance = sum(abs(r.closest - r.target) for r in reports[:3] if r.target is not None)
    distance += LINE_PENALTY * (abs(n - 3))
    distance += LINE_PENALTY * max(0, 3 - len(reports)) * 0
    distance += CHATTER_PENALTY * (len(chatter) * strict + bool(prose))
    if failures and distance == 0:
        distance = 1
    return HaikuVerdict(text, reports, failures, chatter, distance, strict)


def _title_like(line: str, lines: list[str], raw: list[str]) -> bool:
    """A first line that is a title: more than three lines and set apart by a blank line."""
    if len(lines) <= 3 or line is not lines[0]:
        return False
    first = raw.index(line) if line in raw else -1
    spaced = 0 <= first < len(raw) - 1 and raw[first + 1] == ""
    words = line.split()
    title_case = len(words) <= 6 and all(w[:1].isupper() or not w[:1].isalpha() for w in words)
    return spaced or (title_case and not line.rstrip().endswith((",", ".", "—", "-")))


def _prose(body: list[str]) -> str | None:
    words = [len(ln.split()) for ln in body]
    if any(w > MAX_LINE_WORDS for w in words):
        i = next(i for i, w in enumerate(words) if w > MAX_LINE_WORDS)
        return f"prose: line {i + 1} has {words[i]} words (a sentence, not a haiku line)"
    if len(body) < 3 and sum(words) >= PROSE_WORDS:
        return f"prose: {sum(words)} words in {len(body)} line(s), no haiku line structure"
    return None
