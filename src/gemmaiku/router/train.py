"""Train and evaluate the router on the labelled prompt set (data/router/prompts.jsonl).

Each line: {"text": ..., "label": "haiku"|"prose", "kind": "poem"|"code"|...}. The split is
fixed by a hash of the text (20% held out), so every run scores the same held-out prompts.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gemmaiku.errors import GemmaikuError
from gemmaiku.router.linear import LABELS, LinearRouter, train_linear

ROUTER_DATA = Path("data") / "router" / "prompts.jsonl"  # in a checkout's root
HELD_OUT_PERCENT = 20


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    kind: str

    @property
    def held_out(self) -> bool:
        digest = hashlib.sha256(self.text.strip().lower().encode()).digest()
        return int.from_bytes(digest[:4], "big") % 100 < HELD_OUT_PERCENT


def load_examples(path: Path = ROUTER_DATA) -> list[Example]:
    if not path.is_file():
        raise GemmaikuError(f"no router data at {path} (run from the repository's root, or give --data PATH "
                            "to a JSONL of text/label/kind)")
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            example = Example(str(row["text"]), str(row["label"]), str(row.get("kind", "")))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise GemmaikuError(f"{path}:{number}: expected a JSON object with text and label") from None
        if example.label not in LABELS:
            raise GemmaikuError(f"{path}:{number}: label must be one of {', '.join(LABELS)}")
        examples.append(example)
    return examples


def data_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Report:
    approach: str
    accuracy: float
    recall: dict[str, float]
    per_kind: dict[str, float]
    errors: list[dict]
    latency_ms: float
    train_size: int
    test_size: int

    def to_dict(self) -> dict:
        return self.__dict__ | {"accuracy": round(self.accuracy, 4)}


def evaluate(predict: Callable[[str], str], test: Sequence[Example], approach: str, train_size: int) -> Report:
    started = time.perf_counter()
    predictions = [predict(example.text) for example in test]
    latency_ms = (time.perf_counter() - started) * 1000 / max(len(test), 1)
    right = [p == e.label for p, e in zip(predictions, test, strict=True)]
    recall = {}
    for label in LABELS:
        hits = [r for r, e in zip(right, test, strict=True) if e.label == label]
        recall[label] = sum(hits) / len(hits) if hits else float("nan")
    kinds = Counter(e.kind for e in test)
    per_kind = {kind: sum(r for r, e in zip(right, test, strict=True) if e.kind == kind) / count
                for kind, count in sorted(kinds.items())}
    errors = [{"text": e.text[:120], "label": e.label, "kind": e.kind, "predicted": p}
              for p, e, r in zip(predictions, test, right, strict=True) if not r]
    return Report(approach, sum(right) / len(test), recall, per_kind, errors, latency_ms, train_size, len(test))


def split(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    train = [e for e in examples if not e.held_out]
    test = [e for e in examples if e.held_out]
    if not train or not test:
        raise GemmaikuError("the router data needs examples on both sides of the split (add more prompts)")
    return train, test


def train_router(data: Path = ROUTER_DATA, *, final: bool = True) -> tuple[LinearRouter, Report]:
    """Score on the held-out split; the shipped model (``final``) is then refit on all examples."""
    examples = load_examples(data)
    train, test = split(examples)
    router = train_linear([e.text for e in train], [e.label for e in train])
    report = evaluate(lambda text: router.decide(text).label, test, "linear hashed n-grams", len(train))
    if final:
        router = train_linear([e.text for e in examples], [e.label for e in examples])
    router.meta |= {"data": str(data.name), "data_sha256": data_hash(data),
                    "held_out_accuracy": round(report.accuracy, 4),
                    "held_out_recall": {k: round(v, 4) for k, v in report.recall.items()},
                    "trained_on": "all examples" if final else "train split"}
    return router, report
