"""Build ``pos.txt``, the part-of-speech table of :mod:`gemmaiku.prosody.pos`, from two lexicons
that ship in PyPI wheels (read from the wheel files; neither package is installed or imported):

* Brill's tagger lexicon, as TextBlob ships it (``textblob/en/en-lexicon.txt``): each word's most
  likely Penn Treebank tag, from the Brown corpus and the Penn Treebank (MIT), with words from the
  CMU Twitter POS data (CC-BY 3.0);
* LemmInflect's inflection table (``lemminflect/resources/infl_lu.csv.gz``, from the NIH
  SPECIALIST lexicon; MIT): every part of speech a lemma can have, and its plural if a noun.

::

    pip download textblob==0.20.1 lemminflect==0.2.3 --no-deps -d wheels
    python -m gemmaiku.prosody.pos_build wheels/textblob-0.20.1-py3-none-any.whl \\
        wheels/lemminflect-0.2.3-py3-none-any.whl

Classes (:data:`gemmaiku.prosody.pos.CLASSES`; a word may have several):

* ``N`` when its most likely tag is a noun (``NN``, ``NNS``), or, for a word Brill's lexicon
  lacks, when LemmInflect has it as a noun or a plural, or it is the plural of a number word
  (``threes`` and ``tens`` are in the lexicons, ``sixes`` is not);
* an adjective (most likely tag ``JJ``, ``JJR``) is ``A`` when it can never be a noun, ``M`` when
  it can be a mass noun only (no plural: ``small``, ``dark``), ``C`` when it can be a count noun
  (``red``/``reds``), as ordinals can (fractions: ``a third``) and the words of
  :data:`COUNT_NOUNS`, which both lexicons know only as adjectives or verbs;
* ``V`` when its most likely tag is a finite verb (``VB``, ``VBD``, ``VBP``, ``VBZ``, ``MD``:
  ``falls``, ``stood``), ``v`` when it is not but can be one (a base, past or third-person form
  in LemmInflect: ``print``, ``line``).

Only plain words that CMUdict holds are kept (the table answers for words of a checked line;
hyphenated and rare tagger entries would only weigh it down).
"""

from __future__ import annotations

import argparse
import gzip
import io
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

BRILL_MEMBER = "textblob/en/en-lexicon.txt"
LEMMINFLECT_MEMBER = "lemminflect/resources/infl_lu.csv.gz"
NOUN_TAGS = frozenset({"NN", "NNS"})
ADJECTIVE_TAGS = frozenset({"JJ", "JJR"})
VERB_TAGS = frozenset({"VB", "VBD", "VBP", "VBZ", "MD"})
COUNT_NOUNS = ("top",)  # "spins like a top": nouns missing from both lexicons
WRAP = 96  # characters per line of the table
TARGET = Path("src") / "gemmaiku" / "prosody" / "pos.txt"  # in a checkout's root (--out)
HEADER = """\
# Parts of speech of English words for gemmaiku.prosody.pos, built by
# python -m gemmaiku.prosody.pos_build (see its docstring) from:
#   Brill's tagger lexicon as shipped by TextBlob {brill}: most likely tag per word.
#     Eric Brill (1992), A simple rule-based part of speech tagger; Copyright 1993 MIT and the
#     University of Pennsylvania, MIT license. Words from the Twitter Part-of-Speech Annotated
#     Data, Carnegie Mellon University, CC-BY 3.0 (Gimpel, Schneider, O'Connor et al., 2011).
#   LemmInflect {lemminflect} inflection table (NIH SPECIALIST lexicon), MIT license.
# One class per line: the class letter, then its words.
"""


def _member(wheel: Path, name: str) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(name)


def _plain(word: str) -> bool:
    return word.islower() and word.isalpha()


def brill_tags(text: str) -> dict[str, str]:
    """Lower-case word -> its most likely tag (the first row of a word wins)."""
    tags: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith(";;;") and _plain(parts[0]):
            tags.setdefault(parts[0], parts[1])
    return tags


@dataclass
class Inflections:
    """What LemmInflect's table says: noun lemma -> has a plural of another spelling; plurals;
    finite verb forms (base, past, third person)."""

    countable: dict[str, bool] = field(default_factory=lambda: defaultdict(bool))
    plurals: set[str] = field(default_factory=set)
    finite_verbs: set[str] = field(default_factory=set)


FINITE = (0, 3)  # of a verb row's forms (past, past participle, present participle, third person)


def inflections(rows: str) -> Inflections:
    out = Inflections()
    for row in rows.splitlines():
        word, category, *forms = row.split(",")
        spelled = [{f for f in form.split("/") if _plain(f)} for form in forms]
        if category == "noun" and _plain(word):
            plural = spelled[0] if spelled else set()
            out.countable[word] |= bool(plural - {word})
            out.plurals |= plural
        elif category == "verb" and _plain(word):
            out.finite_verbs |= {word}.union(*(spelled[i] for i in FINITE if i < len(spelled)))
    return out


def _number_words() -> list[str]:
    from gemmaiku.prosody.numbers import ONES, SCALES, TENS

    return [*ONES, *TENS[2:], "hundred", *(name for _, name in SCALES)]


def number_plurals() -> set[str]:
    """Plurals of the number words (sixes, twenties, hundreds): nouns ("in sixes")."""
    from gemmaiku.prosody.numbers import _plural

    return {_plural([word])[0] for word in _number_words()}


def ordinals() -> set[str]:
    """Ordinals of the number words (third, tenth, hundredth): count nouns too ("a third")."""
    from gemmaiku.prosody.numbers import _ordinal

    return {_ordinal([word])[0] for word in _number_words()}


def classes(brill: dict[str, str], lexicon: Inflections) -> dict[str, str]:
    """Word -> its class letters, for the words CMUdict holds, as the module docstring says."""
    from gemmaiku.prosody.lexicon import cmu_counts

    out: dict[str, set[str]] = defaultdict(set)
    counted = ordinals() | set(COUNT_NOUNS)
    for word, tag in brill.items():
        if tag in NOUN_TAGS:
            out[word].add("N")
        elif tag in ADJECTIVE_TAGS:
            countable = lexicon.countable
            out[word].add("C" if countable.get(word) or word in counted else ("M" if word in countable else "A"))
        if tag in VERB_TAGS:
            out[word].add("V")
    for word in set(lexicon.countable) | lexicon.plurals | number_plurals():
        if word not in brill:
            out[word].add("N")
    for word in lexicon.finite_verbs - {w for w, tag in brill.items() if tag in VERB_TAGS}:
        out[word].add("v")
    return {word: "".join(sorted(letters)) for word, letters in out.items() if cmu_counts(word) is not None}


def render(table: dict[str, str], brill_name: str, lemminflect_name: str) -> str:
    lines = [HEADER.format(brill=brill_name, lemminflect=lemminflect_name)]
    for letter in sorted(set("".join(table.values())), key=str.upper):
        words = sorted(w for w, letters in table.items() if letter in letters)
        line = letter
        for word in words:
            if len(line) + 1 + len(word) > WRAP:
                lines.append(line + "\n")
                line = letter
            line += " " + word
        lines.append(line + "\n")
    return "".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gemmaiku.prosody.pos_build", description=__doc__.split("\n\n")[0])
    parser.add_argument("textblob_wheel", type=Path, help="textblob-*.whl (pip download textblob --no-deps)")
    parser.add_argument("lemminflect_wheel", type=Path, help="lemminflect-*.whl (pip download lemminflect --no-deps)")
    parser.add_argument("--out", type=Path, default=TARGET,
                        help=f"where to write the table (default {TARGET}, from a checkout's root)")
    args = parser.parse_args(argv)
    from gemmaiku.atomic import write_text_atomic
    from gemmaiku.errors import GemmaikuError

    try:
        brill = brill_tags(_member(args.textblob_wheel, BRILL_MEMBER).decode("utf-8"))
        rows = gzip.GzipFile(fileobj=io.BytesIO(_member(args.lemminflect_wheel, LEMMINFLECT_MEMBER))).read()
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise SystemExit(f"gemmaiku: error: cannot read the lexicons ({exc}; give the two wheel files)") from None
    table = classes(brill, inflections(rows.decode("utf-8")))
    try:
        write_text_atomic(args.out, render(table, args.textblob_wheel.name, args.lemminflect_wheel.name))
    except GemmaikuError as exc:
        raise SystemExit(f"gemmaiku: error: {exc}") from None
    counts = {c: sum(c in v for v in table.values()) for c in sorted(set("".join(table.values())))}
    print(f"wrote {args.out}: {len(table)} words, " + ", ".join(f"{c} {n}" for c, n in counts.items()))


if __name__ == "__main__":
    main()
