"""Wilson intervals against published values; aggregation on known verdicts."""

from __future__ import annotations

import pytest

from gemmaiku.evaluate.scoring import (
    Rate,
    Sample,
    failure_counts,
    group_rates,
    summarize,
    wilson,
    worst,
)
from tests.evaluate.conftest import HAIKU, PREAMBLE, PROSE, SHORT


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # Newcombe (1998), Stat. Med. 17:857, Table I, method 3 (Wilson score, no correction)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        # symmetric and boundary cases
        (5, 10, 0.2366, 0.7634),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_matches_published_values(k, n, low, high):
    got_low, got_high = wilson(k, n)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


def test_wilson_edges():
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(11, 10)
    low, high = wilson(3, 7)
    assert 0 < low < 3 / 7 < high < 1
    # narrower with more data at the same rate
    assert wilson(30, 70)[1] - wilson(30, 70)[0] < high - low


def _sample(pid, category, text, i=0):
    from gemmaiku.evaluate.scoring import judge

    j = judge(text)
    return Sample(pid, category, "p", i, i, text, j.ok, j.distance, j.codes, j.reasons, generated_tokens=10,
                  clean=j.clean, flags=j.flags)


def test_summary_counts_rates_reasons_and_worst():
    samples = [
        _sample("h1", "haiku", HAIKU), _sample("h2", "haiku", HAIKU), _sample("h3", "haiku", SHORT),
        _sample("e1", "essay", PROSE), _sample("e1", "essay", PROSE, 1), _sample("c1", "code", PREAMBLE),
    ]
    rates = group_rates(samples, lambda s: s.category)
    assert rates == {"haiku": Rate(2, 3), "essay": Rate(0, 2), "code": Rate(0, 1)}
    counts = failure_counts(samples)
    assert counts["chatter"] == 1 and counts["prose"] == 2 and counts["line_count"] >= 2
    summary = summarize(samples, worst_k=2)
    assert summary["overall"] == {"passed": 2, "n": 6, "rate": 0.3333, "ci95": [0.0968, 0.7]}
    assert summary["categories"]["haiku"]["passed"] == 2
    # worst: one per prompt, farthest first (the prose essay), never a passing reply
    ids = [s["prompt_id"] for s in summary["worst"]]
    assert ids[0] == "e1" and len(ids) == 2 and len(set(ids)) == 2
    assert all(not s.ok for s in worst(samples, 10))


def test_rate_show():
    assert Rate(5, 10).show() == "50.0% [23.7, 76.3] (5/10)"


def test_mcnemar_exact_known_values():
    from gemmaiku.evaluate.scoring import mcnemar_exact

    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)  # 2 * P(X <= 1), X ~ Bin(10, 1/2)
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64) == mcnemar_exact(6, 0)


def test_paired_comparison_matches_replies_by_prompt_and_seed():
    from gemmaiku.evaluate.scoring import paired

    ref = [_sample("a", "x", HAIKU, 0), _sample("a", "x", PROSE, 1), _sample("b", "x", PROSE, 0)]
    other = [_sample("a", "x", PROSE, 0), _sample("a", "x", HAIKU, 1), _sample("b", "x", HAIKU, 0),
             _sample("c", "x", HAIKU, 0)]  # no partner: left out
    result = paired(ref, other)
    assert result == {"pairs": 3, "only_reference": 1, "only_this": 2, "difference": 0.3333, "mcnemar_p": 1.0}


def test_judge_clean_needs_strict_and_no_flag():
    from gemmaiku.evaluate.scoring import clean_rate_of, flag_counts, judge, paired

    dangling = "Twenty-three, then: the\ntwenty-eight in each row; the\ndozen on each side"
    j = judge(dangling)
    assert j.ok and not j.clean and [f["kind"] for f in j.flags] == ["dangling_end", "dangling_end"]
    assert judge(HAIKU).clean
    # not strict: never clean, even without a flag
    assert not judge(SHORT).clean and judge(SHORT).flags == []
    # the system text is what the reply is checked against for echoes
    copied = "three lines of five, seven\nand five syllables of snow\nsteam writes on the pane"
    assert {f["kind"] for f in judge(copied, system="three lines of five, seven and five syllables").flags} >= {"echo"}
    a = [_sample("h", "haiku", HAIKU, i) for i in range(3)]
    b = [_sample("h", "haiku", dangling, i) for i in range(3)]
    assert clean_rate_of(a).passed == 3 and clean_rate_of(b).passed == 0
    assert flag_counts(b) == {"dangling_end": 3}
    from gemmaiku.evaluate.scoring import clean_ok

    assert paired(a, b, clean_ok)["only_reference"] == 3 and paired(a, b)["only_reference"] == 0
