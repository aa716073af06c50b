"""Paired comparison of two evaluation reports on the same prompts and seeds.

Each reply of report A is paired with report B's reply to the same prompt and sample; for strict
5-7-5, clean (strict and no quality flag) and form held, the rates of both with Wilson intervals
and an exact McNemar test on the discordant pairs. This is the test a new model must pass before
it ships (docs/results.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gemmaiku.errors import GemmaikuError
from gemmaiku.evaluate.scoring import Rate, mcnemar_exact

# What a sample passes: name -> predicate on a samples.jsonl row.
MEASURES: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "strict": lambda row: bool(row["ok"]),
    "clean": lambda row: bool(row.get("clean", False)),
}


def read_samples(folder: Path) -> list[dict[str, Any]]:
    path = folder / "samples.jsonl"
    if not path.is_file():
        raise GemmaikuError(f"no samples.jsonl in {folder} (give a report folder written by `gemmaiku eval`)")
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def compare(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Rates of A and B on their common (prompt, sample) pairs, and McNemar per measure."""
    by_key = {(row["prompt_id"], row["sample"]): row for row in a}
    pairs = [(by_key[(row["prompt_id"], row["sample"])], row) for row in b
             if (row["prompt_id"], row["sample"]) in by_key]
    if not pairs:
        raise GemmaikuError("the two reports share no (prompt, sample) pair (run both on the same prompts and seeds)")
    result: dict[str, Any] = {"pairs": len(pairs), "only_in_a": len(a) - len(pairs), "only_in_b": len(b) - len(pairs)}
    for name, passed in MEASURES.items():
        left = [passed(x) for x, _ in pairs]
        right = [passed(y) for _, y in pairs]
        only_a = sum(x and not y for x, y in zip(left, right, strict=True))
        only_b = sum(y and not x for x, y in zip(left, right, strict=True))
        result[name] = {"a": Rate(sum(left), len(pairs)).to_dict(), "b": Rate(sum(right), len(pairs)).to_dict(),
                        "only_a": only_a, "only_b": only_b,
                        "mcnemar_p": float(f"{mcnemar_exact(only_a, only_b):.4g}")}
    return result


def markdown(result: Mapping[str, Any], a: str, b: str) -> str:
    lines = [f"A: `{a}`  B: `{b}`  ({result['pairs']} paired replies)", "",
             "| measure | A | B | only A | only B | McNemar p |", "|---|---|---|---|---|---|"]
    for name in MEASURES:
        row = result[name]
        lines.append(f"| {name} | {Rate(row['a']['passed'], row['a']['n']).show()} | "
                     f"{Rate(row['b']['passed'], row['b']['n']).show()} | {row['only_a']} | {row['only_b']} | "
                     f"{row['mcnemar_p']} |")
    return "\n".join(lines)
