"""Parts of speech of English words, as far as the quality metric's context rules need them.

Coarse classes per word (:data:`CLASSES`; a word may have several), from the word's most likely
tag in Brill's tagger lexicon and the parts of speech LemmInflect's lexicon allows it. ``pos.txt``
beside this module is built from those two wheels by ``python -m gemmaiku.prosody.pos_build``, so
nothing is downloaded at run time and neither package is a dependency. It is read once, at the
first lookup (about 38,000 words)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

CLASSES = {
    "N": "a noun (its most likely part of speech)",
    "A": "an adjective that is never a noun (same, tiny)",
    "M": "an adjective that is also a mass noun, never counted (small, dark)",
    "C": "an adjective that is also a count noun (red, reds; cold, colds)",
    "V": "a finite verb, most likely (falls, stood)",
    "v": "a finite verb, possibly, though most likely not (print, line)",
}


@lru_cache(maxsize=1)
def _table() -> dict[str, str]:
    text = (resources.files("gemmaiku.prosody") / "pos.txt").read_text(encoding="utf-8")
    table: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            letter, *words = line.split()
            for word in words:
                table[word] = table.get(word, "") + letter
    return table


def classes(word: str) -> str:
    """The class letters of a lower-case ``word`` (keys of :data:`CLASSES`), "" when the table
    does not list it (another part of speech, or a word it does not know)."""
    return _table().get(word, "")
