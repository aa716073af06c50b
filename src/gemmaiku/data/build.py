"""Build the fixed splits from ``data/sources/*.jsonl``: validate, assign, write, hash.

Every conversation goes to the split its normalized first user prompt hashes to (see
``corpus.SPLIT_RULE``), so splits never share a prompt and adding lines never moves old ones.
Within a split, lines are ordered by the hash of their canonical text: the output depends only on
the set of conversations, not on file order. MANIFEST.json records counts and a content hash a
model card can cite; reproduce it with::

    cd data && sha256sum train.jsonl valid.jsonl test.jsonl | sha256sum
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from gemmaiku.atomic import atomic_file, write_text_atomic
from gemmaiku.data.check import (
    HaikuChecker,
    content_hash,
    duplicate_problems,
    prosody_checker,
    statistics,
    turn_problems,
)
from gemmaiku.data.corpus import (
    SPLIT_FILES,
    SPLIT_RULE,
    Conversation,
    Problem,
    dumps_line,
    read_jsonl,
    split_of,
)
from gemmaiku.errors import GemmaikuError

CORPUS_NAME = "gemmaiku-haiku-sft"
LICENSE = "CC-BY-4.0"
HASH_RULE = "cd data && sha256sum train.jsonl valid.jsonl test.jsonl | sha256sum"


@dataclass
class BuildResult:
    manifest: dict
    problems: list[Problem]
    dropped: int


def read_sources(sources: Path) -> tuple[list[Conversation], list[Problem], dict[str, dict]]:
    files = sorted(sources.glob("*.jsonl")) if sources.is_dir() else []
    if not files:
        raise GemmaikuError(f"no source files {sources}/*.jsonl (write conversations there first)")
    conversations: list[Conversation] = []
    problems: list[Problem] = []
    info: dict[str, dict] = {}
    for file in files:
        result = read_jsonl(file, label=f"sources/{file.name}", require_category=True)
        conversations.extend(result.conversations)
        problems.extend(result.problems)
        info[file.name] = {
            "sha256": hashlib.sha256(file.read_bytes()).hexdigest(),
            "conversations": len(result.conversations),
        }
    return conversations, problems, info


def _drop_bad(conversations: list[Conversation], problems: list[Problem]) -> list[Conversation]:
    bad = {p.where.split(" (reply", 1)[0] for p in problems}
    return [c for c in conversations if c.where not in bad]


def build_corpus(
    sources: str | Path,
    out: str | Path,
    *,
    skip_invalid: bool = False,
    check_haiku: HaikuChecker | None = None,
) -> BuildResult:
    """Validate the sources and write train/valid/test.jsonl and MANIFEST.json into ``out``.

    With problems and ``skip_invalid`` false, nothing is written and the problems are returned.
    With ``skip_invalid``, bad lines (and the later copy of each duplicate) are left out.
    """
    sources, out = Path(sources), Path(out)
    conversations, problems, source_info = read_sources(sources)
    unreadable = len({p.where for p in problems})
    problems += turn_problems(conversations, check_haiku or prosody_checker())
    problems += duplicate_problems(_drop_bad(conversations, problems))
    if problems and not skip_invalid:
        return BuildResult({}, problems, 0)
    kept = _drop_bad(conversations, problems)

    splits: dict[str, list[tuple[str, Conversation]]] = {name: [] for name in SPLIT_FILES}
    for conv in kept:
        line = dumps_line(conv.record())
        splits[split_of(conv.prompt_key)].append((line, conv))
    for name, rows in splits.items():
        rows.sort(key=lambda row: (hashlib.sha256(row[0].encode("utf-8")).hexdigest(), row[0]))
        with atomic_file(out / SPLIT_FILES[name]) as tmp:
            tmp.write_text("".join(line for line, _ in rows), encoding="utf-8")

    by_split = {name: [conv for _, conv in rows] for name, rows in splits.items()}
    manifest = {
        "corpus": CORPUS_NAME,
        "license": LICENSE,
        "sha256": content_hash(out),
        "hash_rule": HASH_RULE,
        "split_rule": SPLIT_RULE,
        "conversations": len(kept),
        "splits": {
            name: {
                "file": SPLIT_FILES[name],
                "sha256": hashlib.sha256((out / SPLIT_FILES[name]).read_bytes()).hexdigest(),
                "conversations": len(convs),
                "assistant_turns": sum(c.exchanges for c in convs),
                "per_category": statistics({name: convs})["per_category"],
            }
            for name, convs in by_split.items()
        },
        "sources": source_info,
        "dropped": unreadable + len(conversations) - len(kept),
    }
    write_text_atomic(
        out / "MANIFEST.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    )
    return BuildResult(manifest, problems, manifest["dropped"])
