"""Scoring: each reply judged by the strict 5-7-5 validator and the quality metric, rates with
Wilson 95% intervals.

A reply is *strict* when ``check_haiku`` passes it, and *clean* when it is strict and the quality
metric (:mod:`gemmaiku.prosody.quality`: dangling ends, fragments, non-words, meta-talk, echo,
repeated lines) raises no flag. Every strict rate is reported with its clean rate beside it.

The Wilson score interval (Wilson 1927) keeps a rate's interval inside [0, 1] and stays honest for
small n and for rates near 0 or 1, where the normal approximation p +- z*sqrt(p(1-p)/n) fails.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval (low, high) for ``successes`` out of ``n``; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs of a paired comparison (``b``:
    passed only in arm A, ``c``: passed only in arm B): a binomial test of b against n = b + c, p = 1/2."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired(reference: Sequence[Sample], other: Sequence[Sample],
           passed: Callable[[Sample], bool] = lambda s: s.ok) -> dict[str, Any]:
    """Compare two arms run on the same prompts and seeds, pairing replies by (prompt, sample);
    ``passed`` says what counts (strict 5-7-5 by default, or e.g. :func:`form_ok`)."""
    ref = {(s.prompt_id, s.sample): passed(s) for s in reference}
    pairs = [(ref[(s.prompt_id, s.sample)], passed(s)) for s in other if (s.prompt_id, s.sample) in ref]
    b = sum(r and not o for r, o in pairs)
    c = sum(o and not r for r, o in pairs)
    n = len(pairs)
    return {"pairs": n, "only_reference": b, "only_this": c,
            "difference": round((c - b) / n, 4) if n else 0.0, "mcnemar_p": float(f"{mcnemar_exact(b, c):.4g}")}


@dataclass
class Sample:
    """One generated reply and its verdict."""

    prompt_id: str
    category: str
    prompt: str
    sample: int
    seed: int | None
    reply: str
    ok: bool
    distance: int
    codes: list[str]
    reasons: list[str]
    generated_tokens: int = 0
    prompt_tokens: int = 0
    finish_reason: str = ""
    ttft_s: float = 0.0
    total_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # turn index, temperature, guard...
    lenient_ok: bool = False  # 5-7-5 once chatter (preamble, title, markdown...) is stripped
    clean: bool = False  # strict and no quality flag
    flags: list[dict[str, Any]] = field(default_factory=list)  # the quality flags (Flag.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Judgement(NamedTuple):
    """The strict verdict (ok, distance, failure codes and reasons) and the clean one."""

    ok: bool
    distance: int
    codes: list[str]
    reasons: list[str]
    clean: bool
    flags: list[dict[str, Any]]


def judge(reply_text: str, *, prompt: str = "", system: str | None = None) -> Judgement:
    """Strict 5-7-5 and clean; ``prompt`` and ``system`` are the texts the reply answered (the
    quality metric needs them to tell an echo, meta-talk and a name from the prompt)."""
    from gemmaiku.prosody import check_haiku, quality_flags

    verdict = check_haiku(reply_text)
    flags = [f.to_dict() for f in quality_flags(reply_text, prompt=prompt, system=system or "")]
    return Judgement(verdict.ok, verdict.distance, verdict.codes, verdict.reasons, verdict.ok and not flags, flags)


def judge_lenient(reply_text: str) -> bool:
    """A 5-7-5 haiku inside the reply once chatter around it is removed (``strict=False``)."""
    from gemmaiku.prosody import check_haiku

    return check_haiku(reply_text, strict=False).ok


@dataclass(frozen=True)
class Rate:
    passed: int
    n: int

    @property
    def rate(self) -> float:
        return self.passed / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.passed, self.n)

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval
        return {"passed": self.passed, "n": self.n, "rate": round(self.rate, 4),
                "ci95": [round(low, 4), round(high, 4)]}

    def show(self) -> str:
        """'62.5% [40.9, 80.0] (10/16)' for tables."""
        low, high = self.interval
        return f"{100 * self.rate:.1f}% [{100 * low:.1f}, {100 * high:.1f}] ({self.passed}/{self.n})"


def rate_of(samples: Iterable[Sample]) -> Rate:
    items = list(samples)
    return Rate(sum(s.ok for s in items), len(items))


def clean_ok(sample: Sample) -> bool:
    """Strict 5-7-5 and no quality flag."""
    return sample.clean


def clean_rate_of(samples: Iterable[Sample]) -> Rate:
    items = list(samples)
    return Rate(sum(clean_ok(s) for s in items), len(items))


def flag_counts(samples: Sequence[Sample]) -> dict[str, int]:
    """How many replies had each kind of quality flag (a reply can have several kinds)."""
    counts = Counter(kind for s in samples for kind in dict.fromkeys(f["kind"] for f in s.flags))
    return dict(counts.most_common())


def unclean(samples: Sequence[Sample], k: int = 5) -> list[Sample]:
    """Up to ``k`` strict replies that are not clean, one per prompt, most flags first."""
    seen: set[str] = set()
    out: list[Sample] = []
    for s in sorted((s for s in samples if s.ok and not s.clean),
                    key=lambda s: (-len(s.flags), s.prompt_id, s.sample)):
        if s.prompt_id not in seen:
            seen.add(s.prompt_id)
            out.append(s)
        if len(out) == k:
            break
    return out


def lenient_rate_of(samples: Iterable[Sample]) -> Rate:
    items = list(samples)
    return Rate(sum(s.ok or s.lenient_ok for s in items), len(items))


def form_ok(sample: Sample) -> bool:
    """The form held: three short lines and nothing else; only the syllable counts may be off."""
    return set(sample.codes) <= {"syllables"}


def form_rate_of(samples: Iterable[Sample]) -> Rate:
    items = list(samples)
    return Rate(sum(form_ok(s) for s in items), len(items))


def group_rates(samples: Sequence[Sample], key: Callable[[Sample], Any]) -> dict[Any, Rate]:
    """Rates per key, keys in first-seen order."""
    groups: dict[Any, list[Sample]] = {}
    for s in samples:
        groups.setdefault(key(s), []).append(s)
    return {k: rate_of(v) for k, v in groups.items()}


def group_clean_rates(samples: Sequence[Sample], key: Callable[[Sample], Any]) -> dict[Any, Rate]:
    """Clean rates per key, keys in first-seen order."""
    groups: dict[Any, list[Sample]] = {}
    for s in samples:
        groups.setdefault(key(s), []).append(s)
    return {k: clean_rate_of(v) for k, v in groups.items()}


def failure_counts(samples: Sequence[Sample]) -> dict[str, int]:
    """How many failing replies had each failure code (a reply can have several)."""
    counts = Counter(code for s in samples for code in dict.fromkeys(s.codes))
    return dict(counts.most_common())


def worst(samples: Sequence[Sample], k: int = 5) -> list[Sample]:
    """The ``k`` failing replies farthest from a haiku, one per prompt, longest distance first."""
    seen: set[str] = set()
    out: list[Sample] = []
    for s in sorted((s for s in samples if not s.ok), key=lambda s: (-s.distance, s.prompt_id, s.sample)):
        if s.prompt_id not in seen:
            seen.add(s.prompt_id)
            out.append(s)
        if len(out) == k:
            break
    return out


def summarize(samples: Sequence[Sample], *, worst_k: int = 5) -> dict[str, Any]:
    """Overall and per-category rates, failure counts and worst examples, as plain data."""
    tokens = [s.generated_tokens for s in samples]
    return {
        "overall": rate_of(samples).to_dict(),
        "categories": {c: r.to_dict() for c, r in group_rates(samples, lambda s: s.category).items()},
        "form": {
            "overall": form_rate_of(samples).to_dict(),
            "categories": {c: form_rate_of([s for s in samples if s.category == c]).to_dict()
                           for c in dict.fromkeys(s.category for s in samples)},
        },
        "clean": {
            "overall": clean_rate_of(samples).to_dict(),
            "categories": {c: r.to_dict() for c, r in group_clean_rates(samples, lambda s: s.category).items()},
            "flags": flag_counts(samples),
            "flags_on_strict": flag_counts([s for s in samples if s.ok]),
        },
        "lenient": {
            "overall": lenient_rate_of(samples).to_dict(),
            "categories": {c: lenient_rate_of([s for s in samples if s.category == c]).to_dict()
                           for c in dict.fromkeys(s.category for s in samples)},
        },
        "failures": failure_counts(samples),
        "failures_by_category": {
            c: failure_counts([s for s in samples if s.category == c])
            for c in dict.fromkeys(s.category for s in samples)
        },
        "mean_generated_tokens": round(sum(tokens) / len(tokens), 2) if tokens else 0.0,
        "worst": [s.to_dict() for s in worst(samples, worst_k)],
        "unclean": [s.to_dict() for s in unclean(samples, worst_k)],
    }
