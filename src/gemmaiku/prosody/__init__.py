"""The haiku metric: syllable counts for any text and a strict 5-7-5 validator.

>>> from gemmaiku.prosody import word_syllables, check_haiku
>>> word_syllables("fire")
(1, 2)
>>> check_haiku("An old silent pond\\nA frog jumps into the pond\\nSplash! Silence again").ok
True
>>> from gemmaiku.prosody import assess
>>> verdict = assess("Twenty-three, then: the\\ntwenty-eight in each row; the\\ndozen on each side")
>>> verdict.strict, verdict.clean, [(f.kind, f.line, f.text) for f in verdict.flags]
(True, False, [('dangling_end', 0, 'the'), ('dangling_end', 1, 'the')])

CMUdict is read on the first lookup, not at import, from a disk cache (prosody.lexicon).
"""

from gemmaiku.prosody.haiku import (
    TARGETS,
    Failure,
    HaikuVerdict,
    LineReport,
    chatter_kind,
    check_haiku,
    rank_haiku,
)
from gemmaiku.prosody.quality import (
    KINDS,
    Flag,
    QualityVerdict,
    assess,
    context_words,
    line_flags,
    quality_flags,
)
from gemmaiku.prosody.syllables import WordCount, line_syllables, word_syllables

__all__ = [
    "KINDS",
    "TARGETS",
    "Failure",
    "Flag",
    "HaikuVerdict",
    "LineReport",
    "QualityVerdict",
    "WordCount",
    "assess",
    "chatter_kind",
    "check_haiku",
    "context_words",
    "line_flags",
    "line_syllables",
    "quality_flags",
    "rank_haiku",
    "word_syllables",
]
