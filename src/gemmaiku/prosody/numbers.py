"""Numbers as spoken English: every plausible reading, as lists of words.

``1999`` is "nineteen ninety-nine" or "one thousand nine hundred ninety-nine", ``2026`` is
"twenty twenty-six" or "two thousand twenty-six", ``3rd`` is "third", ``1.5`` is "one point
five", ``100%`` adds "percent", ``$5`` adds "dollars". Readings are word lists so the caller can
count each word with the dictionary.
"""

from __future__ import annotations

import re

ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
ORDINAL_WORDS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip
CURRENCY = {"$": "dollar", "£": "pound", "€": "euro", "¥": "yen"}
MAX_DIGITS = 15  # longer digit strings are read digit by digit

NUMBER_RE = re.compile(
    r"(?P<cur>[$£€¥])?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
    r"(?P<suffix>%|st|nd|rd|th|'?s)?$",
    re.IGNORECASE,
)


def _under_100(n: int) -> list[str]:
    if n < 20:
        return [ONES[n]]
    tens, ones = divmod(n, 10)
    return [TENS[tens]] + ([ONES[ones]] if ones else [])


def _under_1000(n: int, with_and: bool) -> list[str]:
    hundreds, rest = divmod(n, 100)
    words = [ONES[hundreds], "hundred"] if hundreds else []
    if rest:
        words += (["and"] if with_and and hundreds else []) + _under_100(rest)
    return words


def cardinal(n: int, with_and: bool = False) -> list[str]:
    """``n`` (>= 0) in words, American style (``with_and`` gives "one hundred and five")."""
    if n == 0:
        return ["zero"]
    words: list[str] = []
    for scale, name in SCALES:
        if n >= scale:
            high, n = divmod(n, scale)
            words += _under_1000(high, with_and) + [name]
    if n:
        words += (["and"] if with_and and words and n < 100 else []) + _under_1000(n, with_and)
    return words


def year_readings(n: int) -> list[list[str]]:
    """Readings of a four-digit number as a year: 1999, 1905, 1900, 2026, 2005."""
    if not 1000 <= n <= 9999:
        return []
    high, low = divmod(n, 100)
    if low == 0:
        return [_under_100(high) + ["hundred"]] if n % 1000 else []
    if low < 10:
        return [_under_100(high) + ["oh"] + _under_100(low)]
    return [_under_100(high) + _under_100(low)]


def _ordinal(words: list[str]) -> list[str]:
    last = words[-1]
    if last in ORDINAL_WORDS:
        new = ORDINAL_WORDS[last]
    elif last.endswith("y"):
        new = last[:-1] + "ieth"
    else:
        new = last + "th"
    return words[:-1] + [new]


def _plural(words: list[str]) -> list[str]:
    last = words[-1]
    new = last[:-1] + "ies" if last.endswith("y") else last + ("es" if last.endswith("x") else "s")
    return words[:-1] + [new]


def readings(token: str) -> list[list[str]] | None:
    """Every plausible spoken reading of a numeric token, or None if it is not one."""
    match = NUMBER_RE.match(token)
    if match is None:
        return None
    digits = match["int"].replace(",", "")
    frac, suffix, cur = match["frac"], (match["suffix"] or "").lower(), match["cur"]
    if len(digits) > MAX_DIGITS:
        return [[ONES[int(d)] for d in digits]]
    n = int(digits)
    base = [cardinal(n)]
    if "and" not in base[0] and cardinal(n, with_and=True) != base[0]:
        base.append(cardinal(n, with_and=True))
    if "," not in match["int"] and not frac and not cur:
        base += year_readings(n)
        if len(digits) > 1 and digits.startswith("0"):
            base = [[ONES[int(d)] if d != "0" else "oh" for d in digits]]  # 007
    if frac:
        tail = ["point"] + [ONES[int(d)] for d in frac]
        if cur:  # $5.50: "five dollars fifty", "five fifty"
            cents = _under_100(int(frac[:2].ljust(2, "0")))
            unit = CURRENCY[cur] + ("" if n == 1 else "s")
            return [b + [unit] + cents for b in base] + [b + cents for b in base]
        base = [b + tail for b in base] + ([tail] if n == 0 else [])  # 0.5: "point five" too
    if suffix in ("st", "nd", "rd", "th"):
        return [_ordinal(b) for b in base]
    if suffix in ("s", "'s"):  # the 1990s, the 80s: decades, read as years when possible
        years = [b for b in base if b not in (cardinal(n), cardinal(n, with_and=True))]
        return [_plural(b) for b in (years or base)]
    if suffix == "%":
        return [b + ["percent"] for b in base]
    if cur:
        unit = CURRENCY[cur] + ("" if n == 1 and not frac else "s")
        return [b + [unit] for b in base]
    return base
