"""The unknown-word estimator: its rules, its morphology, and its honest held-out accuracy."""

from __future__ import annotations

import pytest

from gemmaiku.bench.prosody import held_out_report, is_held_out, primary_of, score, splits
from gemmaiku.prosody.estimate import Estimator, pronounceable
from gemmaiku.prosody.rules import estimate_rules


@pytest.mark.parametrize(
    ("word", "count"),
    [
        ("make", 1), ("table", 2), ("tables", 2), ("acre", 2), ("walked", 1), ("wanted", 2),
        ("boxes", 2), ("lines", 1), ("media", 3), ("radio", 3), ("nation", 2), ("special", 2),
        ("lovely", 2), ("prism", 2), ("quiet", 2), ("happier", 3), ("being", 2), ("plaque", 1),
        ("league", 1), ("beyond", 2), ("player", 2), ("yes", 1), ("happy", 2), ("idea", 3),
        ("mcdonald", 3), ("glorp", 1), ("snargle", 2), ("create", 2), ("creation", 3),
        ("great", 1), ("treated", 2),
    ],
)  # fmt: skip
def test_spelling_rules(word: str, count: int) -> None:
    primary, counts = estimate_rules(word)
    assert primary == count and count in counts


def test_morphology_uses_only_its_lexicon() -> None:
    lexicon = {"moon": (1,), "beam": (1,), "scroll": (1,), "doom": (1,), "follow": (2,)}
    est = Estimator(lexicon)
    assert est.guess("moonbeam") == (2, (2,))
    assert est.guess("doomscrolling") == (3, (3,))  # doomscroll + ing, doom + scroll
    assert est.guess("unfollowed") == (3, (3,))  # un + followed? no: un + follow + ed
    assert Estimator({}).guess("moonbeam") == estimate_rules("moonbeam")


def test_primary_comes_from_the_first_pronunciation() -> None:
    est = Estimator({"fire": (1, 2), "wood": (1,)}, primary={"fire": 2})
    assert est.guess("firewood") == (3, (2, 3))


@pytest.mark.parametrize(("token", "word"), [("NASA", True), ("SCUBA", True), ("FBI", False),
                                             ("GPU", False), ("NSFW", False), ("HTML", False)])  # fmt: skip
def test_pronounceable(token: str, word: bool) -> None:
    assert pronounceable(token) is word


def test_split_is_stable_disjoint_and_about_a_fifth() -> None:
    tuning, held = splits()
    assert not set(tuning) & set(held)
    assert 0.18 < len(held) / (len(tuning) + len(held)) < 0.22
    assert all(is_held_out(w) for w in list(held)[:100])
    assert is_held_out("blockchain") == is_held_out("blockchain")


def test_held_out_accuracy_is_at_least_ninety_percent() -> None:
    tuning, held = splits()
    sample = dict(list(held.items())[:4000])
    est = Estimator(tuning, primary_of(tuning))
    assert not set(sample) & set(est.lexicon)  # no held-out word is known to the estimator
    result = score(est.guess, sample)
    assert result["primary_in_cmu"] >= 0.90
    assert result["sets_larger_than_one"] < 0.05


def test_report_has_every_row() -> None:
    report = held_out_report(limit=200)
    assert {"estimator", "rules_only", "rules_only_on_tuning"} <= set(report)
    assert report["estimator"]["words"] == 200
