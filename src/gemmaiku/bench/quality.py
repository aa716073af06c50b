"""Benchmark of the haiku quality metric: each detector's precision and recall on hand-labelled
lines, and the speed of the per-line detectors.

    python -m gemmaiku.bench.quality [--labels FILE] [--errors K] [--without-arm ARM] [--json]

The labels file has one JSON object per line of a real reply: ``prompt``, ``system``, the full
``reply``, the 0-based ``line`` index (among the reply's non-empty lines), its ``text``, and
``labels``: a true/false judgement per flag kind, made by reading the line, not the detector.
Each reply is run through :func:`quality_flags` with its prompt and system text, and a detector
counts as firing on a line when it flags that line. Precision and recall come with Wilson 95%
intervals; ``n/a`` where a kind has no flag or no positive label.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LABELS = Path("tests") / "prosody" / "data" / "quality_labels.jsonl"  # in a checkout's root (--labels)


def read_labels(path: Path) -> list[dict[str, Any]]:
    from gemmaiku.errors import GemmaikuError

    if not path.is_file():
        raise GemmaikuError(f"no labels file {path} (give --labels FILE, a JSONL of labelled lines)")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row["reply"], row["line"], row["labels"]  # noqa: B018 - the fields every row needs
        except (ValueError, KeyError, TypeError):
            raise GemmaikuError(f"{path}:{n} is not a labelled line (needs reply, line, labels)") from None
        rows.append(row)
    return rows


def predictions(rows: Sequence[dict[str, Any]]) -> list[set[str]]:
    """The flag kinds the metric raises on each labelled line."""
    from gemmaiku.prosody.quality import quality_flags

    cache: dict[tuple[str, str, str], list] = {}
    out = []
    for row in rows:
        key = (row["reply"], row.get("prompt", ""), row.get("system") or "")
        if key not in cache:
            cache[key] = quality_flags(key[0], prompt=key[1], system=key[2])
        out.append({f.kind for f in cache[key] if f.line == row["line"]})
    return out


def scores(rows: Sequence[dict[str, Any]], predicted: Sequence[set[str]]) -> dict[str, dict[str, Any]]:
    """Per kind: true/false positives, false negatives, precision and recall with 95% intervals."""
    from gemmaiku.evaluate.scoring import Rate
    from gemmaiku.prosody.quality import KINDS

    table = {}
    for kind in KINDS:
        tp = sum(bool(r["labels"].get(kind)) and kind in p for r, p in zip(rows, predicted, strict=True))
        fp = sum(not r["labels"].get(kind) and kind in p for r, p in zip(rows, predicted, strict=True))
        fn = sum(bool(r["labels"].get(kind)) and kind not in p for r, p in zip(rows, predicted, strict=True))
        table[kind] = {"labelled": tp + fn, "flagged": tp + fp, "tp": tp, "fp": fp, "fn": fn,
                       "precision": Rate(tp, tp + fp).to_dict() if tp + fp else None,
                       "recall": Rate(tp, tp + fn).to_dict() if tp + fn else None}  # fmt: skip
    return table


def reply_scores(rows: Sequence[dict[str, Any]], predicted: Sequence[set[str]]) -> dict[str, Any]:
    """Per reply: any flag raised vs any problem labelled (what the clean verdict depends on)."""
    from gemmaiku.evaluate.scoring import Rate

    replies: dict[tuple[str, str], list[bool]] = {}
    for r, p in zip(rows, predicted, strict=True):
        key = (r.get("source", ""), r.get("arm") or "", r.get("prompt_id", ""), r["reply"])
        flagged, labelled = replies.setdefault(key, [False, False])
        replies[key] = [flagged or bool(p), labelled or any(r["labels"].values())]
    tp = sum(f and t for f, t in replies.values())
    fp = sum(f and not t for f, t in replies.values())
    fn = sum(t and not f for f, t in replies.values())
    return {"replies": len(replies), "labelled": tp + fn, "flagged": tp + fp, "tp": tp, "fp": fp, "fn": fn,
            "precision": Rate(tp, tp + fp).to_dict() if tp + fp else None,
            "recall": Rate(tp, tp + fn).to_dict() if tp + fn else None}  # fmt: skip


def speed(rows: Sequence[dict[str, Any]], repeat: int = 20) -> float:
    """Mean CPU microseconds per ``line_flags`` call over the labelled lines (warm caches; CPU
    time of this process, so other load on a shared machine does not inflate it)."""
    from gemmaiku.prosody.quality import context_words, line_flags

    calls = [(r["text"], context_words(r.get("prompt", ""), r.get("system") or "")) for r in rows]
    for text, known in calls:
        line_flags(text, context_words=known)
    start = time.process_time()
    for _ in range(repeat):
        for text, known in calls:
            line_flags(text, context_words=known)
    return (time.process_time() - start) / (repeat * len(calls)) * 1e6 if calls else 0.0


def errors(rows: Sequence[dict[str, Any]], predicted: Sequence[set[str]], k: int) -> list[str]:
    """Up to ``k`` disagreements per kind: 'FP dangling_end: <line> (note)'."""
    from gemmaiku.prosody.quality import KINDS

    out = []
    for kind in KINDS:
        found = []
        for r, p in zip(rows, predicted, strict=True):
            label, flag = bool(r["labels"].get(kind)), kind in p
            if label != flag:
                tag = "FN" if label else "FP"
                found.append(f"{tag} {kind}: {r['text']!r}" + (f"  ({r['note']})" if r.get("note") else ""))
        out += found[:k]
    return out


def _cell(rate: dict[str, Any] | None) -> str:
    if rate is None:
        return "n/a"
    low, high = rate["ci95"]
    return f"{rate['rate']:.2f} [{low:.2f}, {high:.2f}]"


def markdown(table: dict[str, dict[str, Any]], reply: dict[str, Any]) -> str:
    from gemmaiku.evaluate.report import md_table

    rows = [[kind, t["labelled"], t["flagged"], t["tp"], t["fp"], t["fn"], _cell(t["precision"]),
             _cell(t["recall"])] for kind, t in table.items()]
    rows.append(["any flag, per reply", reply["labelled"], reply["flagged"], reply["tp"], reply["fp"],
                 reply["fn"], _cell(reply["precision"]), _cell(reply["recall"])])
    return md_table(["detector", "labelled", "flagged", "TP", "FP", "FN", "precision [95% CI]",
                     "recall [95% CI]"], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gemmaiku.bench.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, default=LABELS, help=f"labelled lines (default {LABELS})")
    parser.add_argument("--errors", type=int, default=0, metavar="K", help="show K disagreements per kind")
    parser.add_argument("--without-arm", action="append", default=[], metavar="ARM",
                        help="leave out the rows of this arm (e.g. 'base + system prompt'); repeatable")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    from gemmaiku.errors import GemmaikuError

    try:
        rows = read_labels(args.labels)
    except GemmaikuError as exc:
        raise SystemExit(f"gemmaiku: error: {exc}") from None
    rows = [r for r in rows if r.get("arm") not in args.without_arm]
    predicted = predictions(rows)
    table, reply = scores(rows, predicted), reply_scores(rows, predicted)
    micros = speed(rows)
    if args.json:
        print(json.dumps({"labels": str(args.labels), "lines": len(rows), "detectors": table, "per_reply": reply,
                          "line_flags_us": round(micros, 1)}, indent=2))
        return
    print(f"{len(rows)} labelled lines in {reply['replies']} replies ({args.labels})\n")
    print(markdown(table, reply))
    print(f"\nline_flags: {micros:.1f} µs of CPU per line (mean over the labelled lines, warm caches)")
    for line in errors(rows, predicted, args.errors):
        print(line)


if __name__ == "__main__":
    main()
