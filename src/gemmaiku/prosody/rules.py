"""Spelling-only syllable estimate for a single lower-case word: tables, not if-chains.

The estimate starts from the number of vowel-letter groups (``y`` is a vowel except before a
vowel at the start of a word or between vowels), after :data:`HIATUS_REWRITES`,
:data:`ENDINGS` and :data:`SILENT_E`
remove letters that are usually silent (*make*, *walked*, *lovely*), then applies
:data:`ADJUST`: each row is a pattern, how many syllables a match adds (hiatus like ``ia`` in
*media*), and whether the row is a sure thing or only likely (then the estimate also offers the
count with it, as a second member of the set, while the best guess goes without).

These tables were tuned on the tuning split of CMUdict only; ``python -m gemmaiku.bench.prosody``
measures them on the held-out split.
"""

from __future__ import annotations

import re
from itertools import product

# Silent e before a consonant-initial suffix: lovely, basement, careful (magic e, VCe).
SILENT_E = re.compile(r"(?<=[aeiouy][^aeiouy])e(?=(ly|ment|ful|less|ness|some|like)$)")
# Spellings whose vowels are heard apart, rewritten first so the groups count right:
# create, creates, creation (e-a), not great or treated.
HIATUS_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<=[^aeiou])ea(?=tes?$|tions?$)"), "eya"),
)

VOWELS = "aeiouy"


def _vowel_mask(word: str) -> list[bool]:
    mask = [c in VOWELS for c in word]
    for i, c in enumerate(word):
        if c != "y":
            continue
        before = word[i - 1] if i else ""
        after = word[i + 1] if i + 1 < len(word) else ""
        if after in "aeiou" and after and (i == 0 or before in "aeiouy"):
            mask[i] = False
    # u after q glides: quiet, queen.
    for i, c in enumerate(word):
        if c == "u" and i and word[i - 1] == "q":
            mask[i] = False
    return mask


def vowel_groups(word: str) -> int:
    mask = _vowel_mask(word)
    return sum(1 for i, v in enumerate(mask) if v and (i == 0 or not mask[i - 1]))


# Final-letter rules: (pattern at the end of the word, replacement). The first that matches wins.
ENDINGS: tuple[tuple[str, str], ...] = (
    (r"([^aeiouyl])(le|les|led)$", r"\1\2"),  # table, tables, tabled: syllabic l, e kept
    (r"([^aeiouyr])(re|res|red)$", r"\1\2"),  # acre, centres
    (r"([aeiouy][^aeiouy]*)(que|ques|qued)$", r"\1k"),  # plaque, antique
    (r"([aeiouy][^aeiouy]*[aeioun])(gue|gues|gued)$", r"\1g"),  # league, tongue
    (r"([aeiouy][^aeiouy]*?)(ted|ded)$", r"\1\2"),  # wanted, needed: -ed is heard
    (r"([aeiouy].*?(?:[sxz]|ch|sh|[cg]))(es)$", r"\1\2"),  # boxes, pages, faces: -es is heard
    (r"([aeiouy].*?)([^aeiouy])ed$", r"\1\2d"),  # walked, loved: silent e
    (r"([aeiouy].*?[aeiou])ed$", r"\1d"),  # agreed, tied
    (r"([aeiouy].*?)([^aeiouy])es$", r"\1\2s"),  # makes, lines
    (r"([aeiouy].*?[^aeiouy])e$", r"\1"),  # make, fire: silent e
)

# (pattern, syllables added per match, sure). Matched on the word after ENDINGS.
ADJUST: tuple[tuple[str, int, bool], ...] = (
    # hiatus: two vowel letters, two syllables
    (r"[^cgstx]i[aou]", 1, True),  # media, radio, stadium (not -tion, -cial, -gious)
    (r"[cgstx]i[ao](?!n|l|u)", 1, False),  # appreciate, glaciate
    (r"[ln]ia$", -1, False),  # Julia, California: often a glide (ya), so also one fewer
    (r"[^q]ua", 1, True),  # usual, dual (not quake)
    (r"[^qg]uo", 1, True),  # duo
    (r"eo(?!n$|us$)", 1, True),  # video, geology (not pigeon, gorgeous)
    (r"[^aeiouy]ie(?=r$|st$|t)", 1, True),  # happier, happiest, diet
    (r"quie(?=r$|st$|t)", 1, True),  # quiet, quieter (the u is a glide)
    (r"[aeiou]ing", 1, True),  # being, going, seeing
    (r"uity$", 1, True),  # acuity (u-i)
    (r"[aeiouy][^aeiouy]*ea$", 1, True),  # idea, area (tea and sea have no vowel before)
    # syllabic consonants and prefixes that spelling hides
    (r"sms?$", 1, True),  # prism, spasm, baptisms
    (r"^mc", 1, True),  # McDonald
)


_ENDINGS = tuple((re.compile(pattern), repl) for pattern, repl in ENDINGS)
_ADJUST = tuple((re.compile(pattern), delta, sure) for pattern, delta, sure in ADJUST)


def estimate_rules(word: str) -> tuple[int, tuple[int, ...]]:
    """(primary guess, all plausible counts) for a lower-case alphabetic word, from spelling."""
    if not word:
        return 0, (0,)
    w = word
    for pattern, repl in HIATUS_REWRITES:
        w = pattern.sub(repl, w)
    for pattern, repl in _ENDINGS:
        new, n = pattern.subn(repl, w)
        if n:
            w = new
            break
    w = SILENT_E.sub("", w)
    base = max(1, vowel_groups(w))
    sure = 0
    maybe: list[int] = []
    for pattern, delta, is_sure in _ADJUST:
        hits = len(pattern.findall(w))
        if not hits:
            continue
        if is_sure:
            sure += delta * hits
        else:
            maybe.extend([delta] * hits)
    primary = max(1, base + sure)
    options = {primary}
    for picks in product((0, 1), repeat=min(len(maybe), 3)):
        options.add(max(1, base + sure + sum(d for d, p in zip(maybe, picks, strict=False) if p)))
    return primary, tuple(sorted(options))
