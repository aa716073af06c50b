"""Numbers spoken as English."""

from __future__ import annotations

import pytest

from gemmaiku.prosody.numbers import cardinal, readings


def spoken(token: str) -> set[str]:
    return {" ".join(words) for words in readings(token) or []}


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("0", "zero"),
        ("3", "three"),
        ("42", "forty two"),
        ("1999", "nineteen ninety nine"),
        ("1999", "one thousand nine hundred ninety nine"),
        ("2026", "twenty twenty six"),
        ("2026", "two thousand twenty six"),
        ("2005", "twenty oh five"),
        ("1900", "nineteen hundred"),
        ("105", "one hundred and five"),
        ("3rd", "third"),
        ("12th", "twelfth"),
        ("21st", "twenty first"),
        ("1.5", "one point five"),
        ("0.5", "zero point five"),
        ("0.5", "point five"),
        ("100%", "one hundred percent"),
        ("$5", "five dollars"),
        ("$1", "one dollar"),
        ("$5.50", "five dollars fifty"),
        ("1990s", "nineteen nineties"),
        ("007", "oh oh seven"),
        ("1,000,000", "one million"),
    ],
)
def test_reading(token: str, expected: str) -> None:
    assert expected in spoken(token)


def test_not_a_number() -> None:
    assert readings("abc") is None


def test_huge_numbers_read_digit_by_digit() -> None:
    assert spoken("1234567890123456789") == {
        "one two three four five six seven eight nine zero "
        "one two three four five six seven eight nine"
    }


def test_cardinal_scales() -> None:
    assert cardinal(999_999) == [
        "nine",
        "hundred",
        "ninety",
        "nine",
        "thousand",
        "nine",
        "hundred",
        "ninety",
        "nine",
    ]
    assert cardinal(2_000_000_001) == ["two", "billion", "one"]
