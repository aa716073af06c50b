"""Check a corpus: every line's shape, every assistant turn 5-7-5, no chatter, no duplicates, no
leaks between splits; and describe it (counts, adversarial share, lengths, first words).

``check_corpus(path)`` takes a folder of split files (``train/valid/test.jsonl``), a folder of
source files (any ``*.jsonl``), or a single file, and returns a :class:`Report`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gemmaiku.data.corpus import (
    CATEGORIES,
    SPLIT_FILES,
    Conversation,
    Problem,
    chatter,
    normalize_text,
    read_jsonl,
    split_of,
)
from gemmaiku.errors import GemmaikuError

# Prompt-length histogram bins in words: (label, upper bound inclusive).
LENGTH_BINS: tuple[tuple[str, int], ...] = (
    ("1-5", 5),
    ("6-10", 10),
    ("11-20", 20),
    ("21-50", 50),
    ("51-100", 100),
    ("101-200", 200),
    ("201+", 10**9),
)
TOP_FIRST_WORDS = 15

HaikuChecker = Callable[[str], str | None]


def prosody_checker() -> HaikuChecker:
    """The strict 5-7-5 check from ``gemmaiku.prosody``: text -> None if valid, else the reason."""
    try:
        from gemmaiku.prosody import check_haiku
    except ImportError as exc:  # the validator is a sibling stage; say so rather than crash
        raise GemmaikuError(
            f"the 5-7-5 validator is unavailable ({exc}); reinstall gemmaiku"
        ) from None

    def check(text: str) -> str | None:
        verdict = check_haiku(text, strict=True)
        return None if verdict.ok else "; ".join(f.message for f in verdict.failures)

    return check


@dataclass
class Report:
    """What ``gemmaiku data check`` found: problems (empty means pass) and statistics."""

    path: str
    files: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        kinds = Counter(p.kind for p in self.problems)
        return {
            "path": self.path,
            "ok": self.ok,
            "files": self.files,
            "problem_counts": dict(sorted(kinds.items())),
            "problems": [
                {"kind": p.kind, "where": p.where, "detail": p.detail} for p in self.problems
            ],
            "stats": self.stats,
        }


def corpus_files(path: Path) -> dict[str, Path]:
    """label -> file. Split folders are labelled by split name; other files by file name."""
    if path.is_file():
        return {path.name: path}
    if not path.is_dir():
        raise GemmaikuError(
            f"no such file or folder: {path} (give a corpus folder or a .jsonl file)"
        )
    splits = {name: path / file for name, file in SPLIT_FILES.items() if (path / file).is_file()}
    if splits:
        return splits
    files = {p.name: p for p in sorted(path.glob("*.jsonl"))}
    if not files:
        raise GemmaikuError(f"no .jsonl files in {path} (run `gemmaiku data build` or give a file)")
    return files


def load(
    path: Path, *, require_category: bool = False
) -> tuple[dict[str, list[Conversation]], list[Problem]]:
    files = corpus_files(path)
    by_file: dict[str, list[Conversation]] = {}
    problems: list[Problem] = []
    for label, file in files.items():
        result = read_jsonl(file, label=label, require_category=require_category)
        by_file[label] = result.conversations
        problems.extend(result.problems)
    return by_file, problems


def turn_problems(
    conversations: Iterable[Conversation], check_haiku: HaikuChecker
) -> list[Problem]:
    """5-7-5 and chatter problems of every assistant turn."""
    problems = []
    for conv in conversations:
        for index, haiku in enumerate(conv.haiku, start=1):
            where = conv.where if conv.exchanges == 1 else f"{conv.where} (reply {index})"
            reason = check_haiku(haiku)
            if reason is not None:
                problems.append(Problem("haiku", where, f"{reason}: {haiku!r}"))
            for rule in chatter(haiku):
                problems.append(Problem("chatter", where, f"{rule}: {haiku!r}"))
    return problems


def duplicate_problems(conversations: list[Conversation]) -> list[Problem]:
    """The same haiku twice anywhere, or the same user turns twice (after normalization)."""
    problems = []
    seen_haiku: dict[str, str] = {}
    seen_users: dict[str, str] = {}
    for conv in conversations:
        for haiku in conv.haiku:
            key = normalize_text(haiku)
            if key in seen_haiku:
                problems.append(
                    Problem(
                        "duplicate haiku", conv.where, f"same haiku as {seen_haiku[key]}: {haiku!r}"
                    )
                )
            else:
                seen_haiku[key] = conv.where
        if conv.user_key in seen_users:
            problems.append(
                Problem(
                    "duplicate prompt",
                    conv.where,
                    f"same prompt as {seen_users[conv.user_key]}: {conv.first_prompt[:80]!r}",
                )
            )
        else:
            seen_users[conv.user_key] = conv.where
    return problems


def leak_problems(splits: dict[str, list[Conversation]]) -> list[Problem]:
    """A prompt or a haiku in more than one split; a line in a split its prompt does not hash to."""
    problems = []
    prompt_home: dict[str, str] = {}
    haiku_home: dict[str, str] = {}
    for split, conversations in splits.items():
        for conv in conversations:
            home = prompt_home.setdefault(conv.prompt_key, split)
            if home != split:
                problems.append(
                    Problem(
                        "leak (prompt)",
                        conv.where,
                        f"first prompt also in {home}: {conv.first_prompt[:80]!r}",
                    )
                )
            for haiku in conv.haiku:
                home = haiku_home.setdefault(normalize_text(haiku), split)
                if home != split:
                    problems.append(
                        Problem("leak (haiku)", conv.where, f"haiku also in {home}: {haiku!r}")
                    )
            if split_of(conv.prompt_key) != split:
                problems.append(
                    Problem(
                        "wrong split",
                        conv.where,
                        f"prompt hashes to {split_of(conv.prompt_key)}, not {split} (rebuild with `gemmaiku data build`)",
                    )
                )
    return problems


def content_hash(folder: Path) -> str:
    """sha256 of the ``sha256sum`` listing of the three split files (``data.build.HASH_RULE``)."""
    listing = "".join(
        f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}\n"
        for name in SPLIT_FILES.values()
    )
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def manifest_problems(folder: Path) -> list[Problem]:
    """MANIFEST.json (when present) must name the split files' current content hash."""
    manifest_path = folder / "MANIFEST.json"
    if not manifest_path.is_file():
        return []
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        recorded = manifest["sha256"]
    except (ValueError, KeyError, TypeError):
        return [
            Problem(
                "manifest",
                str(manifest_path),
                "unreadable or missing 'sha256' (rebuild with `gemmaiku data build`)",
            )
        ]
    actual = content_hash(folder)
    if recorded != actual:
        return [
            Problem(
                "manifest",
                str(manifest_path),
                f"sha256 {recorded[:12]}... does not match the split files ({actual[:12]}...); rebuild",
            )
        ]
    return []


def _histogram(values: Iterable[int]) -> dict[str, int]:
    counts = dict.fromkeys((label for label, _ in LENGTH_BINS), 0)
    for value in values:
        label = next(label for label, bound in LENGTH_BINS if value <= bound)
        counts[label] += 1
    return counts


def statistics(by_file: dict[str, list[Conversation]]) -> dict:
    conversations = [c for convs in by_file.values() for c in convs]
    categories = Counter(c.category or "(none)" for c in conversations)
    adversarial = sum(CATEGORIES.get(c.category or "", False) for c in conversations)
    first_words = Counter(
        normalize_text(h).split(" ", 1)[0]
        for c in conversations
        for h in c.haiku
        if normalize_text(h)
    )
    total = len(conversations)
    return {
        "conversations": total,
        "assistant_turns": sum(c.exchanges for c in conversations),
        "per_file": {label: len(convs) for label, convs in by_file.items()},
        "per_category": dict(sorted(categories.items(), key=lambda kv: (-kv[1], kv[0]))),
        "adversarial": adversarial,
        "adversarial_share": round(adversarial / total, 4) if total else 0.0,
        "multi_turn": sum(c.exchanges > 1 for c in conversations),
        "with_system": sum(c.has_system for c in conversations),
        "prompt_words": _histogram(len(c.first_prompt.split()) for c in conversations),
        "longest_prompt_words": max(
            (len(c.first_prompt.split()) for c in conversations), default=0
        ),
        "shared_first_prompts": total - len({c.prompt_key for c in conversations}),
        "top_first_words": dict(first_words.most_common(TOP_FIRST_WORDS)),
        "distinct_first_words": len(first_words),
    }


def check_corpus(
    path: str | Path,
    *,
    check_haiku: HaikuChecker | None = None,
    require_category: bool = False,
) -> Report:
    """Validate a corpus folder or file and gather its statistics."""
    path = Path(path)
    by_file, problems = load(path, require_category=require_category)
    conversations = [c for convs in by_file.values() for c in convs]
    report = Report(str(path), files={label: len(convs) for label, convs in by_file.items()})
    report.problems.extend(problems)
    report.problems.extend(turn_problems(conversations, check_haiku or prosody_checker()))
    report.problems.extend(duplicate_problems(conversations))
    if path.is_dir() and set(by_file) <= set(SPLIT_FILES):
        report.problems.extend(leak_problems(by_file))
        report.problems.extend(manifest_problems(path))
    report.stats = statistics(by_file)
    if not conversations and not problems:
        report.problems.append(Problem("empty", str(path), "no conversations"))
    return report
