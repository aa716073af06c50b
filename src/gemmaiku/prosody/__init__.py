"""The haiku metric: syllable counts for any text and a strict 5-7-5 validator.

>>> from gemmaiku.prosody import word_syllables, check_haiku
>>> word_syllables("fire")
(1, 2)
>>> check_haiku("An old silent pond\\nA frog jumps into the pond\\nSplash! Silence again").ok
True

Heavy work (loading CMUdict, ~0.5 s) happens on the first lookup, not at import.
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
from gemmaiku.prosody.syllables import WordCount, line_syllables, word_syllables

__all__ = [
    "TARGETS",
    "Failure",
    "HaikuVerdict",
    "LineReport",
    "WordCount",
    "chatter_kind",
    "check_haiku",
    "line_syllables",
    "rank_haiku",
    "word_syllables",
]
