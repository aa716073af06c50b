"""The quality metric against hand-labelled lines of real replies (tests/prosody/data): floors on
each detector's precision and recall, and the per-line detectors (with break_flags across each
break) agreeing with the whole-reply metric on every labelled line. The figures themselves:
python -m gemmaiku.bench.quality."""

from __future__ import annotations

import pytest

from gemmaiku.bench.quality import LABELS, predictions, read_labels, reply_scores, scores
from gemmaiku.prosody.quality import (
    KINDS,
    LINE_KINDS,
    break_flags,
    context_words,
    line_flags,
    poem_lines,
)

# (kind, precision floor, recall floor): a little under what the labelled set measures, so a
# change that loses real precision or recall fails (docs/prosody.md lists what each misses).
FLOORS = (
    ("dangling_end", 0.95, 0.88),
    ("fragment", 0.7, 0.8),
    ("non_word", 0.5, 1.0),
    ("meta_talk", 0.95, 0.85),
    ("echo", 0.9, 0.95),
    ("repeated_line", 0.9, 0.9),
)


@pytest.fixture(scope="module")
def labelled():
    rows = read_labels(LABELS)
    return rows, predictions(rows)


LABEL_FILES = (LABELS, *(LABELS.with_name(f"quality_labels_{name}.jsonl") for name in ("heldout", "heldout2")))


@pytest.mark.parametrize("path", LABEL_FILES, ids=lambda p: p.name)
def test_labels_cover_whole_replies(path) -> None:
    rows = read_labels(path)
    assert len(rows) >= (300 if path == LABELS else 100)
    by_reply: dict[tuple, list[dict]] = {}
    for row in rows:
        assert set(row["labels"]) == set(KINDS)
        by_reply.setdefault((row["source"], row["arm"], row["reply"]), []).append(row)
    for group in by_reply.values():
        lines = poem_lines(group[0]["reply"])
        assert [r["line"] for r in group] == list(range(len(lines)))
        assert [r["text"].replace("\u2019", "'") for r in group] == [ln.replace("\u2019", "'") for ln in lines]


@pytest.mark.parametrize(("kind", "precision", "recall"), FLOORS)
def test_detector_precision_and_recall(labelled, kind: str, precision: float, recall: float) -> None:
    table = scores(*labelled)[kind]
    assert table["labelled"] > 0 and table["flagged"] > 0
    assert table["precision"]["rate"] >= precision, table
    assert table["recall"]["rate"] >= recall, table


def test_clean_verdict_per_reply(labelled) -> None:
    """What decides `clean`: any flag on a reply against any problem labelled in it."""
    reply = reply_scores(*labelled)
    assert reply["precision"]["rate"] >= 0.95 and reply["recall"]["rate"] >= 0.9, reply


def test_known_bad_lines_flagged_known_good_lines_pass(labelled) -> None:
    """The guard's broken breaks are caught, and the unguarded replies' ordinary lines pass."""
    rows, predicted = labelled
    by_text = {r["text"]: p for r, p in zip(rows, predicted, strict=True)}
    for bad in ("Twenty-three, then: the", "delete one line and,", "Caleb, the help centre— I'll",
                "on the steps of our—", "The sine, with its", "Yes — the lake's",
                "Name, role — a small", "the octopus is,", "No — a heart, yes; three", "A thousand — forty",
                "the rooster's call comes in through", "Four-thirty — the first"):
        assert "dangling_end" in by_text[bad], bad
    for good in ("the old man stands still", "the sun on its back, and the sea", "Kanpai, then:",
                 "a cup of hot coffee —", "the grinder on,", "for the train to come. Then it will;"):
        assert by_text[good] == set(), good


def test_line_flags_agree_with_quality_flags_on_every_labelled_line(labelled) -> None:
    """line_flags on the line alone, plus break_flags with the next line, give the line's flags."""
    rows, predicted = labelled
    for row, kinds in zip(rows, predicted, strict=True):
        lines, i = poem_lines(row["reply"]), row["line"]
        known = context_words(row["prompt"], row["system"] or "")
        alone = {f.kind for f in line_flags(lines[i], context_words=known, last=i == len(lines) - 1)}
        across = {f.kind for f in break_flags(lines[i], lines[i + 1])} if i + 1 < len(lines) else set()
        assert alone | across == {k for k in kinds if k in LINE_KINDS}, row["text"]
