"""Does the haiku read well? Flags beside the syllable check, and the *clean* verdict.

A reply is **clean** when :func:`check_haiku` passes it strictly and :func:`quality_flags`
finds nothing. The flags, by kind (:data:`KINDS`):

* ``dangling_end``: the line's last word is a closed-class word that cannot end an English
  phrase (:data:`DANGLING`): an article, a possessive determiner, a conjunction, a preposition
  that needs its object, a modal waiting for its verb, a contracted auxiliary (``it's``,
  ``I'll``). Particles that can end a phrase (``the sun comes up``, ``away``) are not listed,
  nor are words such as ``is`` (``here it is``). A comma or a dash after the word does not help
  (``delete one line and,``); a full stop or a question mark completes the few words that can
  be stranded (``where is it from?``), and the end of the poem completes a modal (``it will``).
  Open-class and ambiguous words dangle in context only (:data:`WAITS`, with parts of speech
  from :mod:`gemmaiku.prosody.pos`): an adjective that cannot be a noun after "a" (``a small``),
  a copula after its subject (``the octopus is,``), ``be`` after a modal, ``named``; and, when
  the next line starts with what the word waits for (:func:`break_flags`), an adjective or a
  number before its noun (``a red / pigeon``, ``three / hearts``), a number cut in two
  (``forty / two``), a preposition before its object (``beyond / the mountains``), ``half``,
  ``not``, ``called`` and ``what``.
* ``fragment``: the last word is not a word (not in the lexicon, not made of known parts, not
  in the prompt, not a number), or it is cut at a hyphen (``ice-``).
* ``non_word``: the same, for any other word of the line.
* ``meta_talk``: the reply talks about syllables, lines, haiku or being a bot, when the prompt
  did not ask about that (:data:`META`).
* ``echo``: a run of :data:`ECHO_WORDS` or more words copied from the prompt or system text.
* ``repeated_line``: a line that repeats an earlier one.

:func:`line_flags` runs the per-line detectors on one candidate line (fast, for decoders that
score every candidate); :func:`break_flags` the dangling ends that only the next line shows;
:func:`quality_flags` runs everything on a reply; :func:`assess` adds the strict check and the
clean verdict.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from gemmaiku.prosody.estimate import analysable
from gemmaiku.prosody.lexicon import cmu_counts
from gemmaiku.prosody.numbers import ONES, TENS
from gemmaiku.prosody.pos import classes
from gemmaiku.prosody.syllables import CAMEL_PARTS, TOKEN_RE, fold

KINDS = ("dangling_end", "fragment", "non_word", "meta_talk", "echo", "repeated_line")
LINE_KINDS = ("dangling_end", "fragment", "non_word")  # what line_flags can raise

# When a listed word can end a phrase after all: "never"; "stop" when a full stop, question
# mark, exclamation mark or semicolon follows it (a colon too, except at the end of the poem,
# where it announces what never comes: "goodbye, like:"); "end" also when it ends the poem.
COMPLETES = ("never", "stop", "end")
STOPS = frozenset(".!?;")
ANNOUNCES = frozenset(":")


@dataclass(frozen=True)
class Closed:
    """A closed class of words that cannot end a phrase, and when one can after all."""

    name: str
    completes: str
    words: frozenset[str]


def _closed(name: str, completes: str, words: str) -> Closed:
    return Closed(name, completes, frozenset(words.split()))


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


NEEDS_OBJECT = _wordset("of to from with into onto upon at for toward towards via per amid amidst among "
                        "amongst unto despite during versus against like")  # fmt: skip
DANGLING: tuple[Closed, ...] = (
    _closed("an article", "never", "a an the"),
    _closed("a possessive determiner", "never", "my your its our their whose thy"),
    _closed("a determiner", "never", "every"),
    _closed("a determiner waiting for its noun", "stop", "no"),  # "no / sun"; "But no;" is whole
    _closed("a subject pronoun waiting for its verb", "stop", "i he she we they"),
    _closed("a coordinating conjunction", "never", "and or nor but"),
    _closed("a subordinating conjunction", "never",
            "because although unless whereas whether whilst if than as until till"),
    Closed("a preposition that needs its object", "stop", NEEDS_OBJECT),
    _closed("a modal waiting for its verb", "end", "can could will would shall should may might must"),
    _closed("an intensifier waiting for its word", "never", "very"),
)  # fmt: skip
DANGLING_WORDS: dict[str, Closed] = {w: row for row in DANGLING for w in row.words}
# A clitic on the last word: an auxiliary cannot be contracted before the end of a clause
# ("*here it's", "*yes, I'm"), and a possessive 's waits for its noun ("the lake's").
CLITIC = Closed("a contracted auxiliary or possessive", "never", frozenset())
CLITICS = ("'s", "'m", "'re", "'ve", "'ll", "'d")
CUT = Closed("a word cut at its hyphen", "never", frozenset())

# Open-class and ambiguous words wait in context only: "a small" waits for its noun where "the
# sun comes up" and "I counted three" are whole. Word classes by name; parts of speech come from
# the table of gemmaiku.prosody.pos.
DETERMINERS = _wordset("a an the this that these those my your his her its our their whose thy every each "
                       "no some any another either neither")  # fmt: skip
QUANTIFIERS = _wordset("many few several all both most much more less fewer enough")
NUMBERS = frozenset(ONES[1:] + TENS[2:] + ["hundred", "thousand", "million", "billion", "dozen"])
NUMBER_STEMS = frozenset(TENS[2:] + ["hundred", "thousand", "million", "billion"])  # "forty / two"
# Adjectives that head a phrase by themselves after "a": "a few", "a little", "all of a sudden".
FUSED_HEADS = _wordset("few little sudden")
# Before a copula at the end of a line, these make the clause whole: "where the river is",
# "here it is", "as the sea is", "whatever the cost is".
COPULA_LICENSORS = _wordset("here there where what how who whom which why when whatever wherever however "
                            "whoever as than so that")  # fmt: skip
# Prepositions that are hardly ever particles (unlike "on", "in", "up", "over": "the waves roll on").
PREPOSITIONS = _wordset("through beyond across along between throughout beneath underneath")
PARTICLES = _wordset("in on up down out off over by around")
SUBJECT_PRONOUNS = _wordset("i you he she it we they")
# Words that start an object: after one, a noun that can be a verb is a verb ("print / i times
# i", "range the rest"), not the noun a line waits for.
OBJECT_STARTS = DETERMINERS | _wordset("i me you him her it us them")


def _words_of(words: str) -> Callable[[str], bool]:
    return _wordset(words).__contains__


def _pos(letters: str) -> Callable[[str], bool]:
    """Whether a word has one of these classes in the part-of-speech table."""
    wanted = frozenset(letters)
    return lambda word: not wanted.isdisjoint(classes(word))


# Word classes by name: tests of a lower-case word.
WORD_CLASSES: dict[str, Callable[[str], bool]] = {
    "a or an": _words_of("a an"),
    "determiner": lambda w: (w in DETERMINERS or w in QUANTIFIERS or w in NUMBERS
                             or (w.endswith("'s") and len(w) > 2)),  # "the moon's"
    "number": NUMBERS.__contains__,
    "number stem": NUMBER_STEMS.__contains__,
    "noun": _pos("N"),
    "adjective": _pos("AMC"),
    "adjective, not a count noun": lambda w: not {"A", "M"}.isdisjoint(classes(w)) and w not in FUSED_HEADS,
    "verb": _pos("V"),  # most likely a verb
    "verb too": _pos("Vv"),  # possibly a verb
    "copula": _words_of("is are was were"),
    "wh-word": _words_of("what who where which how why when"),
    "what": _words_of("what"),
    "be": _words_of("be"),
    "modal or to": lambda w: (getattr(DANGLING_WORDS.get(w), "completes", "") == "end" or w == "to"
                              or w.endswith(("'ll", "'d"))),  # "will be", "to be", "you'll be"
    "naming participle": _words_of("named nicknamed dubbed titled entitled"),
    "called": _words_of("called"),
    "preposition": PREPOSITIONS.__contains__,
    "preposition or particle": lambda w: w in PREPOSITIONS or w in PARTICLES or w in NEEDS_OBJECT,
    "predeterminer": _words_of("half"),
    "not": _words_of("not"),
}  # fmt: skip


def _continues_noun(words: list[str]) -> bool:
    """The next line starts with a lower-case noun (after adjectives, if any: "long days") that
    goes on the phrase: not the subject of a new clause ("the dark / night falls"), nor a verb
    with its object ("one / print i")."""
    while len(words) > 1 and words[0].islower() and WORD_CLASSES["adjective"](words[0]):
        words = words[1:]
    first, second = words[0], words[1].lower() if len(words) > 1 else ""
    if not (first.islower() and WORD_CLASSES["noun"](first)):
        return False
    return not WORD_CLASSES["verb"](second) and not (WORD_CLASSES["verb too"](first) and second in OBJECT_STARTS)


def _starts_phrase(words: list[str]) -> bool:
    """A determiner, a number, a name or an adjective: what starts a noun phrase."""
    first = words[0].lower()
    return (WORD_CLASSES["determiner"](first) or first in NUMBERS or is_name(words[0])
            or WORD_CLASSES["adjective"](first))


def _continues_noun_phrase(words: list[str]) -> bool:
    """The next line starts with a noun phrase that is not the subject of a new clause ("passes
    through / the heat tries")."""
    lower = [w.lower() for w in words]
    if len(lower) > 2 and WORD_CLASSES["noun"](lower[1]) and WORD_CLASSES["verb"](lower[2]):
        return False
    return _starts_phrase(words) or _continues_noun(words)


# What the next line starts with, by name: tests of its first words (up to its first punctuation).
NEXT_CLASSES: dict[str, Callable[[list[str]], bool]] = {
    "noun": _continues_noun,
    "noun phrase": _continues_noun_phrase,
    "number": lambda words: words[0].lower() in NUMBERS,
    "determiner": lambda words: WORD_CLASSES["determiner"](words[0].lower()),
    "name": lambda words: is_name(words[0]),
    "clause": lambda words: (words[0].lower() in SUBJECT_PRONOUNS or _starts_phrase(words)
                             or WORD_CLASSES["noun"](words[0].lower())),
}


@dataclass(frozen=True)
class Waits:
    """A word that cannot end a phrase in context: a ``word`` of that class (a key of
    :data:`WORD_CLASSES`) right after a word of class ``after`` (any word when empty), unless a
    word of ``unless`` comes earlier in the line. ``completes`` as in :class:`Closed`, or
    ``next``: the line waits only when the next line starts, with nothing between, with what the
    word waits for (a key of :data:`NEXT_CLASSES`: "three / hearts", "a red / pigeon"); not when
    the word before is of class ``unless_after`` ("torn in half")."""

    name: str
    word: str
    after: str = ""
    completes: str = "never"
    next: str = ""
    unless: frozenset[str] = frozenset()
    unless_after: str = ""


WAITS: tuple[Waits, ...] = (
    Waits("an adjective waiting for its noun", "adjective, not a count noun", after="a or an"),  # "a small"
    Waits("a copula waiting for its complement", "copula", after="noun", completes="stop",
          unless=COPULA_LICENSORS),  # "the octopus is,"
    Waits("a copula waiting for its subject", "copula", after="wh-word", completes="stop"),  # "What is"
    Waits('"be" waiting for its complement', "be", after="modal or to", completes="end"),  # "you'll be"
    Waits("a participle waiting for the name", "naming participle", completes="stop"),  # "A woman named"
    # Across the break: the next line starts with what the word waits for.
    Waits("an adjective waiting for its noun", "adjective", after="determiner", completes="next",
          next="noun"),  # "the same / name", "a red / pigeon"
    Waits("a number waiting for its noun", "number", completes="next", next="noun"),  # "three / hearts"
    Waits("a number cut in two", "number stem", completes="next", next="number"),  # "forty / two"
    Waits("a preposition waiting for its object", "preposition", completes="next", next="noun phrase"),
    Waits("a predeterminer waiting for its noun phrase", "predeterminer", completes="next",
          next="determiner", unless_after="preposition or particle"),  # "half / the journey", not "in half"
    Waits('"not" waiting for what it negates', "not", completes="next", next="determiner"),  # ", not / a list"
    Waits("a participle waiting for the name", "called", completes="next", next="name"),  # "a cat called / Tom"
    Waits('"what" waiting for its clause', "what", completes="next", next="clause"),  # "knows what / a cactus does"
)  # fmt: skip

POEM_WORDS = r"(haikus?|poems?|verses?|stanzas?)"
# (topic, what the reply says, what in the prompt asks about it): meta-talk is only flagged
# when the prompt did not raise the topic itself. A prompt that merely names a haiku ("haiku
# mode disabled") has not asked about lines or syllables.
META: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (topic, re.compile(said), re.compile(asked))
    for topic, said, asked in (
        ("syllables", r"\bsyllables?\b|\b5\s*[-/,]\s*7\s*[-/,]\s*5\b|\bfive[-, ]+seven[-, ]+(and )?five\b",
         r"syllab|5\s*-\s*7\s*-\s*5|\bcount"),
        ("the poem's lines",
         r"\b(three|3|two|2) lines\b|\blines? of (five|seven|5|7)\b|\b(first|second|third|last|next|final) line\b",
         r"\blines?\b|\bsyllab|\bform\b|\bstructure\b"),
        ("the poem itself", rf"\b{POEM_WORDS}\b", rf"\b{POEM_WORDS}\b"),
        ("being a bot",
         r"\bas an ai\b|\b(ai|language) model\b|\bchat ?bot\b|\bi('m| am)\b.*\bgemmaiku\b|\bmy name is gemmaiku\b"
         r"|\bi('m| am) (a|an|just a|just an|only a|only an) (bot|ai|assistant|machine|program|model)\b",
         r"\b(bot|ai|model|assistant|gemmaiku|gemma|who are you|what are you)\b"),
        ("its instructions",
         r"\bsystem prompt\b|\bmy (instructions|rules)\b|\bi (can|may|must) only (write|answer|reply|speak|respond)\b",
         r"\b(instructions?|prompt|rules?)\b"),
    )
)  # fmt: skip
# A request for a poem about something: its topic ("a kite caught in a tree") is the poem's
# subject, so restating it is not an echo.
POEM_REQUEST = re.compile(rf"\b{POEM_WORDS}\b.{{0,40}}\b(about|on|of|for)\b|^{POEM_WORDS}\s*:", re.IGNORECASE)
ECHO_WORDS = 5  # this many words in a row copied from the prompt or system text is an echo
ECHO_LINE_WORDS = 3  # copied words a line must hold to be flagged
SHOWN = 40  # characters of a span quoted in a flag's text


@dataclass(frozen=True)
class Flag:
    """One quality problem: ``kind`` from :data:`KINDS`, the 0-based ``line`` (None for the
    whole reply or a lone candidate line), the offending ``text`` and a ``detail`` sentence."""

    kind: str
    line: int | None
    text: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "line": self.line, "text": self.text, "detail": self.detail}


@dataclass(frozen=True)
class QualityVerdict:
    """``strict``: check_haiku passes; ``flags``: every quality flag; ``clean``: both good."""

    text: str
    strict: bool
    flags: tuple[Flag, ...] = field(default_factory=tuple)

    @property
    def clean(self) -> bool:
        return self.strict and not self.flags

    @property
    def kinds(self) -> list[str]:
        """The kinds flagged, each once, in :data:`KINDS` order."""
        found = {f.kind for f in self.flags}
        return [k for k in KINDS if k in found]

    def to_dict(self) -> dict[str, Any]:
        return {"strict": self.strict, "clean": self.clean, "kinds": self.kinds,
                "flags": [f.to_dict() for f in self.flags]}  # fmt: skip


def _words(text: str) -> list[str]:
    """Lower-cased word and number tokens of ``text``, as the syllable counter cuts them, without
    quotes around them ('The library ...' and The library are the same words)."""
    return [w for m in TOKEN_RE.finditer(fold(text)) if m.lastgroup != "symbol" and (w := m.group().lower().strip("'"))]


@lru_cache(maxsize=64)
def context_words(*texts: str) -> frozenset[str]:
    """Lower-cased words of the prompt and system text (a word found there is never a
    non-word), hyphenated words also by their parts."""
    out: set[str] = set()
    for text in texts:
        for word in _words(text or ""):
            out.add(word.strip("'"))
            out.update(p for p in word.split("-") if p)
    return frozenset(out)


# British spellings the (American) dictionary lacks, as (pattern, American replacement).
BRITISH: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), american)
    for pattern, american in (
        (r"([bt])re(s|d)?$", r"\1er\2"),  # litre, centres, fibre
        (r"our(s|ed|ing|ful)?$", r"or\1"),  # colour, flavours
        (r"is(e|es|ed|ing|ation|ations)$", r"iz\1"),  # realise, organisation
        (r"ll(ed|ing|er|ers)$", r"l\1"),  # travelled, cancelling
        (r"ogue(s)?$", r"og\1"),  # catalogue
    )
)


def is_name(token: str) -> bool:
    """A capitalised word (Kanpai, Aotearoa, Baikal's): a name, which no lexicon holds them all."""
    return len(token) > 1 and token[0].isupper() and token[1].islower()


def _mixed_scripts(token: str) -> bool:
    """Latin letters glued to wide (CJK) characters: decoding debris, not a word (に通itäten)."""
    latin = any("a" <= ch.lower() <= "z" for ch in token)
    return latin and any(unicodedata.east_asian_width(ch) in "WF" for ch in token)


@lru_cache(maxsize=100_000)
def is_word(token: str) -> bool:
    """Whether a word token (as written) is a word: in the lexicon (or in British spelling),
    made of known parts (hyphens, camelCase, a stem and a clitic, a stem and a suffix, two
    words), a name, an acronym, or in a script the lexicon does not cover."""
    lower = token.lower().strip("'")
    if not lower or cmu_counts(lower) is not None:
        return True
    if any(cmu_counts(p.sub(american, lower)) for p, american in BRITISH if p.search(lower)):
        return True
    if "-" in lower:
        return all(is_word(part) for part in token.strip("'").split("-") if part)
    if "'" in lower:  # the lake's, goin', could've: the stem decides
        stem = token.strip("'").split("'")[0]
        return is_word(stem) if stem else True
    if "." in lower:  # e.g, U.S, end.start; not a word glued to debris (number.ującego)
        return all(len(p) == 1 or (p.isascii() and is_word(p)) for p in token.split(".") if p)
    bare = token.strip("'")
    if bare.isupper() and len(bare) >= 2:  # GPU, NSFW: acronyms are words
        return True
    if is_name(bare):
        return True
    camel = CAMEL_PARTS.findall(bare)
    if len(camel) > 1 and "".join(camel) == bare:  # iPhone, macOS
        return all(is_word(part) for part in camel)
    if not lower.isascii():  # kana, hanzi, accented loanwords: not ours to judge
        return not _mixed_scripts(bare)
    return analysable(lower)


@lru_cache(maxsize=100_000)
def _waiting(word: str, across: bool) -> tuple[Waits, ...]:
    """The rows of :data:`WAITS` (those with ``next`` when ``across``) whose word class holds
    the lower-case ``word``; cached, as most words are in none."""
    return tuple(row for row in WAITS if (row.completes == "next") == across and WORD_CLASSES[row.word](word))


def _waits(row: Waits, before: re.Match[str] | None, text: str, word_start: int) -> bool:
    """Whether the last word of ``text`` (at ``word_start``), of ``row``'s class, waits in its
    context: the word ``before`` it (None when it is the first); ``after`` needs the two side by
    side, with no punctuation between."""
    previous = before.group().lower() if before else ""
    if row.after and (not WORD_CLASSES[row.after](previous) or text[before.end():word_start].strip()):
        return False
    if row.unless_after and WORD_CLASSES[row.unless_after](previous):
        return False
    return not row.unless or not row.unless & set(_words(text[:before.start()] if before else ""))


def _dangling(matches: list[re.Match[str]], text: str, tail: str, last: bool) -> Closed | Waits | None:
    """The closed class (or the context, :data:`WAITS`) that leaves the line hanging on its last
    word, or None. A capitalised word inside the line is a name ("on May", "Will"), not a
    closed-class word."""
    word = matches[-1].group()
    if len(matches) > 1 and is_name(word) and not word.startswith("I'"):
        return None
    lower = word.lower().replace("\u2019", "'")
    row: Closed | Waits | None = DANGLING_WORDS.get(lower)
    if row is None and lower.endswith(CLITICS) and len(lower) > 2:
        row = CLITIC
    if row is None:
        before = matches[-2] if len(matches) > 1 else None
        row = next((w for w in _waiting(lower, False) if _waits(w, before, text, matches[-1].start())), None)
    if row is None:
        return None
    stopped = any(ch in STOPS or (ch in ANNOUNCES and not last) for ch in tail)
    if (row.completes == "stop" and stopped) or (row.completes == "end" and (stopped or last)):
        return None
    return row


def _dangling_flag(row: Closed | Waits, word: str, index: int | None) -> Flag:
    return Flag("dangling_end", index, word, f'the line ends on "{word}" ({row.name}), which cannot end a phrase')


def line_flags(line: str, *, context_words: frozenset[str] = frozenset(), last: bool = False,
               index: int | None = None) -> list[Flag]:
    """Dangling end, fragment and non-word flags of ONE line, independent of the other lines.

    ``context_words``: lower-cased words of the prompt and system text (see
    :func:`context_words`); ``last``: the line ends the poem; ``index`` goes into each flag's
    ``line``. :func:`break_flags` adds what only the next line shows."""
    text = fold(line).rstrip()
    matches = [m for m in TOKEN_RE.finditer(text) if m.lastgroup == "word"]
    if not matches:
        return []
    flags: list[Flag] = []
    for m in matches[:-1]:
        word = m.group()
        if word.lower().strip("'") not in context_words and not is_word(word):
            flags.append(Flag("non_word", index, word, f'"{word}" is not an English word'))
    final = matches[-1]
    word, tail = final.group(), text[final.end():]
    ends_line = not any(ch.isalnum() for ch in tail)
    if ends_line:
        cut = tail.startswith("-") and not tail.startswith("--")  # "sixty- / two", "ice-"
        row = CUT if cut else _dangling(matches, text, tail, last)
        if row is not None:
            flags.append(_dangling_flag(row, word, index))
        if cut or (word.lower().strip("'") not in context_words and not is_word(word)):
            shown = word + ("-" if cut else "")
            flags.append(Flag("fragment", index, shown, f'the line ends on "{shown}", which is not a whole word'))
    elif word.lower().strip("'") not in context_words and not is_word(word):
        flags.append(Flag("non_word", index, word, f'"{word}" is not an English word'))
    return flags


def _leading_words(text: str, most: int = 3) -> list[str]:
    """The first words of ``text`` up to its first punctuation ("name, a year" -> ["name"]);
    none when it starts with punctuation ("— the")."""
    words: list[str] = []
    end = 0
    for m in TOKEN_RE.finditer(text):
        if m.lastgroup == "symbol" or text[end:m.start()].strip() or len(words) == most:
            break
        words.append(m.group())
        end = m.end()
    return words


def break_flags(line: str, next_line: str, *, index: int | None = None) -> list[Flag]:
    """The dangling end that only the next line shows: ``line`` ends, with no punctuation, on a
    word that waits for what ``next_line`` starts with (:data:`WAITS` rows with ``next``: "three
    / hearts", "a red / pigeon", "warm beyond / the mountains"). Empty when :func:`line_flags`
    flags the line's end already, so the two never flag one line twice."""
    text, following = fold(line).rstrip(), fold(next_line).strip()
    matches = [m for m in TOKEN_RE.finditer(text) if m.lastgroup == "word"]
    starts = _leading_words(following)
    if not matches or not starts or text[matches[-1].end():]:
        return []
    word = matches[-1].group()
    if (len(matches) > 1 and is_name(word)) or _dangling(matches, text, "", last=False) is not None:
        return []
    before = matches[-2] if len(matches) > 1 else None
    row = next((w for w in _waiting(word.lower(), True)
                if _waits(w, before, text, matches[-1].start()) and NEXT_CLASSES[w.next](starts)), None)
    return [] if row is None else [_dangling_flag(row, word, index)]


@lru_cache(maxsize=64)
def _topics_raised(prompt: str) -> frozenset[str]:
    """The meta-talk topics the prompt raises itself (cached per prompt)."""
    asked = fold(prompt).lower()
    return frozenset(topic for topic, _, raised in META if raised.search(asked))


def _meta(line: str, prompt: str, index: int) -> Flag | None:
    said = fold(line).lower()
    raised = _topics_raised(prompt)
    for topic, pattern, _ in META:
        found = pattern.search(said)
        if found and topic not in raised:
            return Flag("meta_talk", index, found.group(),
                        f'talks about {topic} ("{found.group()}"), which the prompt did not ask about')
    return None


def _source_grams(text: str) -> frozenset[tuple[str, ...]]:
    """The ECHO_WORDS-word runs of a prompt or system text."""
    words = _words(text)
    return frozenset(tuple(words[i:i + ECHO_WORDS]) for i in range(len(words) - ECHO_WORDS + 1))


@lru_cache(maxsize=64)
def _echo_sources(prompt: str, system: str) -> tuple[tuple[str, frozenset[tuple[str, ...]]], ...]:
    """(name, runs) of the texts a reply must not copy; cached, as a decoder checks many
    candidates against the same prompt. A poem request's topic may be restated."""
    return (("prompt", _source_grams("" if POEM_REQUEST.search(prompt) else prompt)),
            ("system", _source_grams(system)))


def _echoes(lines: list[str], prompt: str, system: str) -> list[Flag]:
    """Runs of ECHO_WORDS words copied from the prompt or the system text, across line breaks
    too; a line is flagged when it holds ECHO_LINE_WORDS of the copied words (or all of its
    own), so a line that merely starts where a copied run ends is not."""
    sources = _echo_sources(prompt, system)
    tokens = [(i, w) for i, ln in enumerate(lines) for w in _words(ln)]
    words = [w for _, w in tokens]
    copied: dict[int, tuple[str, str]] = {}  # token position -> (source, the run's text)
    for start in range(len(words) - ECHO_WORDS + 1):
        gram = tuple(words[start:start + ECHO_WORDS])
        source = next((name for name, grams in sources if gram in grams), None)
        if source is not None:
            for pos in range(start, start + ECHO_WORDS):
                copied.setdefault(pos, (source, " ".join(gram)[:SHOWN]))
    flags = []
    for i in range(len(lines)):
        mine = [pos for pos, (line, _) in enumerate(tokens) if line == i]
        hits = [pos for pos in mine if pos in copied]
        if hits and len(hits) >= min(ECHO_LINE_WORDS, len(mine)):
            source, span = copied[hits[0]]
            flags.append(Flag("echo", i, span, f'copies "{span}" from the {source} text'))
    return flags


REPEAT_PREFIX = 4  # a line cut short repeats an earlier one when it is its first words, this many or more


def _repeats(words: list[str], earlier: list[str]) -> bool:
    """The same words, or one line the start of the other (a repeat cut short)."""
    if words == earlier:
        return True
    short, long = sorted((words, earlier), key=len)
    return len(short) >= REPEAT_PREFIX and long[: len(short)] == short


def poem_lines(reply: str) -> list[str]:
    """The reply's non-empty lines, stripped: what the line indices of flags count."""
    return [ln.strip() for ln in fold(reply).splitlines() if ln.strip()]


def quality_flags(reply: str, *, prompt: str = "", system: str = "") -> list[Flag]:
    """Every quality flag of ``reply``: the per-line flags of each line, then meta-talk, echo
    and repeated lines, sorted by line."""
    lines = poem_lines(reply)
    known = context_words(prompt, system)
    flags: list[Flag] = []
    seen: list[list[str]] = []
    for i, line in enumerate(lines):
        flags += line_flags(line, context_words=known, last=i == len(lines) - 1, index=i)
        if i + 1 < len(lines):
            flags += break_flags(line, lines[i + 1], index=i)
        meta = _meta(line, prompt, i)
        if meta:
            flags.append(meta)
        words = _words(line)
        if words and any(_repeats(words, earlier) for earlier in seen):
            flags.append(Flag("repeated_line", i, line[:SHOWN], "repeats an earlier line"))
        seen.append(words)
    flags += _echoes(lines, prompt, system)
    order = {k: n for n, k in enumerate(KINDS)}
    return sorted(flags, key=lambda f: (-1 if f.line is None else f.line, order[f.kind]))


def assess(reply: str, *, prompt: str = "", system: str = "") -> QualityVerdict:
    """Strict 5-7-5 (:func:`check_haiku`), the quality flags, and whether the reply is clean."""
    from gemmaiku.prosody.haiku import check_haiku

    strict = check_haiku(reply).ok
    return QualityVerdict(reply, strict, tuple(quality_flags(reply, prompt=prompt, system=system)))
