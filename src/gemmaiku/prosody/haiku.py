"""The strict 5-7-5 check: a verdict with the lines, their counts, and named reasons.

``check_haiku(text)`` passes only a bare haiku: exactly three non-empty lines, each with some
plausible pronunciation of 5, 7 and 5 syllables, and nothing else: no preamble ("Sure! Here is a
haiku:"), title, postscript ("I hope you enjoy it!"), markdown or surrounding quotes
(:data:`CHATTER`, :data:`MARKUP`). ``strict=False`` strips that chatter and checks what is left,
for ranking model outputs that are nearly right.

Distance, for ranking candidates; 0 exactly when ``ok``:

* for each of the first three poem lines, how far its closest plausible count is from 5, 7, 5;
* :data:`LINE_PENALTY` per line missing or extra (strict mode counts chatter lines too);
* :data:`CHATTER_PENALTY` per chatter finding (strict mode) and for prose.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from gemmaiku.prosody.syllables import WordCount, fold, line_syllables

TARGETS = (5, 7, 5)
LINE_PENALTY = 5
CHATTER_PENALTY = 3
MAX_CHARS = 1000  # a block longer than this is prose, not a haiku; it is not counted
MAX_LINE_WORDS = 12  # a haiku line this long is a sentence, not a line
PROSE_WORDS = 11  # fewer than three lines holding this many words: a paragraph
MAX_POEM_WORDS = 20  # 17 syllables make at most 17 words; more is prose cut into lines
SHOWN = 60  # characters of a chatter line quoted in a reason

POEM = r"(haiku|haikus|poem|poems|verse|poetry)"
# (kind, pattern) tried in order on each line, folded, stripped and lower-cased; the first match
# names the line. Each needs a word about the poem itself or assistant phrasing, so a haiku line
# that merely starts with "Here" or "Sure" ("Here the river bends") is not chatter.
CHATTER: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("title", r"^(title|haiku|poem)\s*(#?\d+)?\s*[:\-–—]"),
        (
            "preamble",
            r"^(sure|certainly|of course|absolutely|okay|ok|alright|gladly|here you go)"
            r"\s*(!|:|[,.]\s*(here|i|let|this|below)\b|$)",
        ),
        (
            "preamble",
            rf"^(here('s| is| are| goes)|below is|this is|i('ve| have)? ?(written|"
            rf"composed|crafted|made)|let me|allow me|i'd be|i would be)\b.*\b{POEM}\b",
        ),
        ("preamble", rf"\b{POEM}\b.*:$"),
        ("preamble", r"^here('s| is| are) (a|an|your|my|the following|some|one)\b.*:$"),
        ("preamble", r"^(as requested|as you asked|in response to)\b"),
        (
            "refusal",
            r"^(as an ai\b|as a (large )?language model|i'?m sorry,? but|i am sorry,? but|"
            r"i (cannot|can't|won't) (help|assist|write|provide|comply|do that))",
        ),
        (
            "postscript",
            r"^(i hope (you|this|that|it) |hope (you|this|that|it) (enjoy|like)|"
            r"let me know|feel free to|would you like (another|more|me|a)\b|"
            r"if you('d| would) like|note\s*:|p\.?s\.?\b|explanation\s*:|"
            r"syllables?( count)?\s*:)",
        ),
        ("postscript", r"^enjoy(\s*[!.]?$| (it|this)\s*[!.]?$| (the|this|my) (haiku|poem))"),
        (
            "postscript",
            rf"^in (this|the|my) {POEM}\b|^(this|the) {POEM}\b,? (captures|"
            r"uses|reflects|evokes|describes|follows|paints|explores|"
            r"conveys|expresses|celebrates|shows|highlights|combines|contrasts|"
            r"plays|tries|aims|invites|focuses|consists|features)\b",
        ),
        ("postscript", r"\b5\s*[-/,]\s*7\s*[-/,]\s*5\b"),
        ("attribution", r"^(—|–|--|~)\s*[\w.]+(\s+[\w.]+){0,3}$"),  # — Matsuo Bashō
    )
)
# Markdown around or inside the poem: lines that are only markup are removed; prefixes
# (bullets, quotes, heading marks) and emphasis are stripped from the line and reported.
MARKUP_ONLY = re.compile(r"^(```\w*|~~~\w*|[-*_=]{3,})$")
HEADING = re.compile(r"^#{1,6}\s+")
MARKUP_PREFIX = re.compile(r"^(>\s*|[-*+•]\s+|\d+[.)]\s+|(line|verse)\s*\d+\s*[:.)\-–—]\s*)",
                           re.IGNORECASE)  # fmt: skip
# Gemma chat-template tokens leaking into a reply (and the role word after a turn start).
TEMPLATE_TOKEN = re.compile(r"<(start_of_turn>(user|model)?|end_of_turn>|bos>|eos>|pad>)")
HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,40}>")  # <br>, <i>, </p>
EMPHASIS = re.compile(r"^([*_]{1,3})(?=\S)(.*?)(?<=\S)\1$")
ANNOTATION = re.compile(r"\s*[(\[]\s*\d+(\s*syllables?)?\s*[)\]]$", re.IGNORECASE)  # "(5)"
SLASHES = re.compile(r"\s+/\s+")
QUOTES = {'"': '"', "\u201c": "\u201d", "'": "'", "\u2018": "\u2019", "«": "»"}


@dataclass
class LineReport:
    """One line of the poem: its text, plausible counts, words, and target (None when extra)."""

    text: str
    counts: tuple[int, ...]
    words: list[WordCount]
    target: int | None

    @property
    def closest(self) -> int:
        """The plausible count nearest the target (the smaller on a tie)."""
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


# Failure codes, in the order they are reported.
CODES = ("empty", "prose", "chatter", "line_count", "syllables")


@dataclass
class Failure:
    """A named reason: ``code`` is one of :data:`CODES`, ``message`` says it in words."""

    code: str
    message: str


@dataclass
class HaikuVerdict:
    """Result of :func:`check_haiku`. ``ok`` means strict 5-7-5; ``distance`` is 0 when ok."""

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
    def codes(self) -> list[str]:
        return [f.code for f in self.failures]

    @property
    def line_counts(self) -> list[tuple[int, ...]]:
        return [line.counts for line in self.lines]

    def to_dict(self) -> dict:
        return {
            "ok": self.ok, "distance": self.distance, "strict": self.strict,
            "reasons": self.reasons, "codes": self.codes, "chatter": self.chatter,
            "lines": [line.to_dict() for line in self.lines], "text": self.text,
        }  # fmt: skip


def chatter_kind(line: str) -> str | None:
    """Why a line is chatter around a poem (preamble, title, postscript, attribution,
    refusal), or None."""
    text = fold(line).strip().lower()
    for kind, pattern in CHATTER:
        if pattern.search(text):
            return kind
    return None


def _unquote(lines: list[str]) -> tuple[list[str], bool]:
    """Remove quotes wrapping the whole poem, or every line; say whether there were any."""
    first, last = lines[0], lines[-1]
    close = QUOTES.get(first[:1])
    if close and last.endswith(close) and (len(lines) > 1 or len(first) > 1):
        if len(lines) == 1:
            return [first[1:-1].strip()], True
        return [first[1:].strip(), *lines[1:-1], last[:-1].strip()], True
    if len(lines) > 1 and all(len(ln) > 1 and QUOTES.get(ln[0]) == ln[-1] for ln in lines):
        return [ln[1:-1].strip() for ln in lines], True
    return lines, False


def _clean(line: str, notes: list[str]) -> str | None:
    """The poem text of a line with markup removed (noted), or None if the line is chatter."""
    if MARKUP_ONLY.match(line):
        notes.append(f"markdown: {line[:SHOWN]}")
        return None
    if HEADING.match(line):
        notes.append(f"title: {line[:SHOWN]}")
        return None
    text = TEMPLATE_TOKEN.sub(" ", line).strip()
    if text != line:
        notes.append(f"chat template token: {line[:SHOWN]}")
        if not text:
            return None
        line = text
    text = HTML_TAG.sub(" ", line).strip()
    for pattern, repl in ((MARKUP_PREFIX, ""), (EMPHASIS, r"\2")):
        text = pattern.sub(repl, text, count=1).strip()
    if text != line:
        notes.append(f"markdown: {line[:SHOWN]}")
    kind = chatter_kind(text)
    if kind:
        notes.append(f"{kind}: {line[:SHOWN]}")
        return None
    unannotated = ANNOTATION.sub("", text)
    if unannotated != text:
        notes.append(f"syllable annotation: {line[:SHOWN]}")
    return unannotated or None


def _is_title(lines: list[str], raw: list[str]) -> bool:
    """A first line that heads more than three: set apart by a blank line, or Title Case."""
    if len(lines) <= 3:
        return False
    start = next(i for i, ln in enumerate(raw) if ln)
    spaced = start + 1 < len(raw) and raw[start + 1] == ""
    words = lines[0].split()
    title_case = len(words) <= 6 and all(w[:1].isupper() or not w[:1].isalpha() for w in words)
    return spaced or (title_case and not lines[0].endswith((",", ";", "—", "-", "…")))


def _prose(body: list[str]) -> str | None:
    words = [len(ln.split()) for ln in body]
    for i, n in enumerate(words):
        if n > MAX_LINE_WORDS:
            return f"prose: line {i + 1} has {n} words (a sentence, not a haiku line)"
    if len(body) < 3 and sum(words) >= PROSE_WORDS:
        return f"prose: {sum(words)} words in {len(body)} line(s), not three short lines"
    if sum(words) > MAX_POEM_WORDS:
        return f"prose: {sum(words)} words (a haiku has at most 17 syllables)"
    return None


def check_haiku(text: str, *, strict: bool = True) -> HaikuVerdict:
    """Check that ``text`` is a 5-7-5 haiku and nothing else. Never raises for any ``str``.

    ``strict=False`` removes chatter first (reported in ``chatter``, not failed on).
    """
    if len(text) > MAX_CHARS:
        message = f"prose: {len(text)} characters is not a haiku (more than {MAX_CHARS})"
        distance = LINE_PENALTY * 3 + CHATTER_PENALTY
        return HaikuVerdict(text[:MAX_CHARS], [], [Failure("prose", message)], [], distance, strict)
    raw = [ln.strip() for ln in fold(text).splitlines()]
    lines = [ln for ln in raw if ln]
    if not lines:
        return HaikuVerdict(text, [], [Failure("empty", "empty: no text")], [], 3 * LINE_PENALTY,
                            strict)  # fmt: skip
    notes: list[str] = []
    lines, quoted = _unquote(lines)
    if quoted:
        notes.append("quotes around the poem")
    cleaned = [_clean(ln, notes) for ln in lines]
    body = [ln for ln in cleaned if ln]
    if body and len(body) > 3 and _is_title(body, raw):
        notes.append(f"title: {body[0][:SHOWN]}")
        body = body[1:]
    if len(body) == 1 and len(SLASHES.split(body[0])) == 3:  # "line one / line two / three"
        notes.append("slashes instead of line breaks")
        body = SLASHES.split(body[0])
    reports = [
        LineReport(ln, *line_syllables(ln), TARGETS[i] if i < 3 else None)
        for i, ln in enumerate(body)
    ]
    failures: list[Failure] = []
    prose = _prose(body)
    if prose:
        failures.append(Failure("prose", prose))
    if strict:
        failures += [Failure("chatter", f"chatter: {note}") for note in notes]
    n = len(lines) if strict else len(body)
    if n != 3:
        failures.append(Failure("line_count", f"expected 3 lines, got {n}"))
    for i, rep in enumerate(reports[:3]):
        if not rep.ok:
            failures.append(Failure(
                "syllables", f"line {i + 1} has {rep.closest} syllables (needs {rep.target})"))  # fmt: skip
    distance = sum(abs(r.closest - r.target) for r in reports[:3] if r.target is not None)
    distance += LINE_PENALTY * abs(n - 3)
    distance += CHATTER_PENALTY * (len(notes) * strict + bool(prose))
    return HaikuVerdict(text, reports, failures, notes, distance, strict)


def rank_haiku(candidates: Iterable[str], *, strict: bool = True) -> list[HaikuVerdict]:
    """Verdicts for ``candidates``, best first: by distance, ties in input order. In strict mode
    a good haiku wrapped in chatter still ranks above a bare one with the wrong counts only
    when its chatter costs less (3 per finding, 5 per extra line)."""
    return sorted(
        (check_haiku(text, strict=strict) for text in candidates), key=lambda v: v.distance
    )
