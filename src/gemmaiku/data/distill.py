"""The self-distillation set (``data/distill/``): prompts written for the model to answer, and the
model-made replies kept from each round.

Layout of the folder::

    sources/              what people write (see below); the only hand-edited part
    prompts.jsonl         {"id", "category", "messages"}: conversations-to-be, last turn the user's
    round<N>.jsonl        model-made replies (ROUND_KEYS): the prompt's messages plus one
                          assistant turn, ``"source": "model"``, the model and decoder settings
    MANIFEST.json         counts, file hashes and the set's own content hash (HASH_RULE)

``gemmaiku data distill-prompts`` builds prompts.jsonl from ``sources/``:

- ``prompts/<category>.txt``: one prompt per line (lines starting with ``# `` are comments);
- ``long/<category>.txt``: multi-line prompts separated by a line holding only ``%``;
- ``compose.json``: per category, tables ``{"forms": [...], "slots": {name: [values]}}``; the
  first slot drives: one prompt per value, its form and other slots picked by a hash of it;
- ``systems.json``: ``{"share": s, "by_category": {category: [system prompts]}}``; a hash of the
  prompt gives that share of single-turn prompts one of their category's system turns;
- ``followups.json``: per category, groups ``{"after": [categories or "*"], "turns": [...],
  "pairs": n}``; each turn follows ``n`` (default 1) distinct single-exchange conversations of
  the train split in an ``after`` category, so the earlier assistant turn is a corpus haiku.

Every choice is a hash of the text, so the build is deterministic and adding a prompt never moves
another. Prompts that repeat one another (normalized), repeat a train prompt, or nearly copy a
held-out prompt (valid/test user turns, the evaluation suite; ``leak.LEAK_RULE``) are dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gemmaiku.atomic import atomic_file, write_text_atomic
from gemmaiku.data.check import LENGTH_BINS
from gemmaiku.data.corpus import CATEGORIES, Conversation, dumps_line, normalize_text, read_jsonl
from gemmaiku.data.leak import LEAK_RULE, HeldOut
from gemmaiku.errors import GemmaikuError

SET_NAME = "gemmaiku-distill"
LICENSE = "CC-BY-4.0"
PROMPTS_FILE = "prompts.jsonl"
MANIFEST_FILE = "MANIFEST.json"
ROUND_FILE = re.compile(r"round(\d+)\.jsonl")
PROMPT_KEYS = ("id", "category", "messages")
ROUND_KEYS = ("id", "prompt_id", "category", "messages", "source", "model", "decoder")
MODEL_SOURCE = "model"
HASH_RULE = (
    "cd data/distill && sha256sum prompts.jsonl round*.jsonl | sha256sum "
    "(round files in name order; before the first round: sha256sum prompts.jsonl | sha256sum)"
)
LONG_SEPARATOR = "%"
COMMENT = "# "


@dataclass(frozen=True)
class Draft:
    """A prompt on its way into prompts.jsonl, and the source line it came from."""

    category: str
    messages: tuple[dict[str, str], ...]
    origin: str

    @property
    def user_turns(self) -> list[str]:
        return [m["content"] for m in self.messages if m["role"] == "user"]

    @property
    def key(self) -> str:
        return "\x1f".join(normalize_text(turn) for turn in self.user_turns)

    @property
    def id(self) -> str:
        canonical = json.dumps(self.messages, ensure_ascii=False, sort_keys=True)
        return f"{self.category}-{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:10]}"

    def record(self) -> dict:
        return {
            "id": self.id,
            "category": self.category,
            "messages": [dict(m) for m in self.messages],
        }


@dataclass
class DistillBuild:
    rows: list[dict]
    dropped: Counter = field(default_factory=Counter)
    manifest: dict = field(default_factory=dict)


def stable_hash(*parts: str) -> int:
    return int(hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:12], 16)


def user(text: str) -> tuple[dict[str, str], ...]:
    return ({"role": "user", "content": text},)


def _known(category: str, where: str) -> str:
    if category not in CATEGORIES:
        raise GemmaikuError(
            f"{where}: unknown category {category!r} (one of: {', '.join(CATEGORIES)})"
        )
    return category


def _load_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GemmaikuError(f"missing {path} (see data/distill/README.md for the layout)") from None
    except ValueError as exc:
        raise GemmaikuError(f"{path}: invalid JSON ({exc}); fix the file") from None
    if not isinstance(data, dict):
        raise GemmaikuError(f"{path}: expected a JSON object; fix the file")
    return data


def line_prompts(folder: Path) -> Iterator[Draft]:
    """``prompts/<category>.txt``: one prompt per line."""
    for path in sorted((folder / "prompts").glob("*.txt")):
        category = _known(path.stem, str(path))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            text = line.strip()
            if text and not text.startswith(COMMENT):
                yield Draft(category, user(text), f"prompts/{path.name}:{number}")


def long_prompts(folder: Path) -> Iterator[Draft]:
    """``long/<category>.txt``: multi-line prompts separated by a line holding only ``%``."""
    for path in sorted((folder / "long").glob("*.txt")):
        category = _known(path.stem, str(path))
        entry: list[str] = []
        start = 1
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate([*lines, LONG_SEPARATOR], start=1):
            if line.strip() != LONG_SEPARATOR:
                entry.append(line)
                continue
            text = "\n".join(entry).strip()
            if text:
                yield Draft(category, user(text), f"long/{path.name}:{start}")
            entry, start = [], number + 1


def fill(form: str, values: dict[str, str], where: str) -> str:
    try:
        return form.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise GemmaikuError(
            f"{where}: form {form!r} names an unknown slot ({exc}); fix compose.json"
        ) from None


def composed_prompts(folder: Path) -> Iterator[Draft]:
    """``compose.json``: one prompt per value of each table's first slot."""
    path = folder / "compose.json"
    for category, tables in _load_json(path).items():
        _known(category, str(path))
        for index, table in enumerate(tables):
            where = f"compose.json:{category}[{index}]"
            forms, slots = table.get("forms"), table.get("slots")
            if not forms or not slots:
                raise GemmaikuError(f"{where}: a table needs non-empty 'forms' and 'slots'")
            driver, *others = slots
            for value in slots[driver]:
                values = {driver: value}
                for name in others:
                    values[name] = slots[name][stable_hash(value, name) % len(slots[name])]
                form = forms[stable_hash(value, "form") % len(forms)]
                yield Draft(category, user(fill(form, values, where)), f"{where}:{value}")


def with_systems(drafts: Iterable[Draft], folder: Path) -> Iterator[Draft]:
    """Give ``share`` of the single-turn drafts one of their category's system turns."""
    path = folder / "systems.json"
    table = _load_json(path)
    share, by_category = float(table.get("share", 0)), table.get("by_category", {})
    for category in by_category:
        _known(category, str(path))
    for draft in drafts:
        systems = by_category.get(draft.category)
        if systems and stable_hash(draft.key, "system") % 10_000 < share * 10_000:
            system = systems[stable_hash(draft.key, "which system") % len(systems)]
            draft = Draft(draft.category, ({"role": "system", "content": system}, *draft.messages),
                          draft.origin)  # fmt: skip
        yield draft


def followup_prompts(folder: Path, train: list[Conversation], held_out: HeldOut) -> Iterator[Draft]:
    """``followups.json``: each turn after ``pairs`` (default 1) distinct train conversations."""
    path = folder / "followups.json"
    bases = sorted(
        (c for c in train if c.exchanges == 1 and not any(held_out.match(t) for t in _users(c))),
        key=lambda c: c.prompt_key,
    )
    used: set[int] = set()
    for category, groups in _load_json(path).items():
        _known(category, str(path))
        for index, group in enumerate(groups):
            where = f"followups.json:{category}[{index}]"
            after = set(group.get("after") or ["*"])
            eligible = [i for i, c in enumerate(bases) if "*" in after or c.category in after]
            for turn in group.get("turns", []):
                for pair in range(int(group.get("pairs", 1))):
                    free = [i for i in eligible if i not in used]
                    if not free:
                        raise GemmaikuError(
                            f"{where}: more turns than train conversations in {sorted(after)}; "
                            "widen 'after' or lower 'pairs'"
                        )
                    pick = free[stable_hash(turn, "base", str(pair)) % len(free)]
                    used.add(pick)
                    messages = (*bases[pick].messages, {"role": "user", "content": turn})
                    yield Draft(category, messages, where)


def _users(conv: Conversation) -> list[str]:
    return [m["content"] for m in conv.messages if m["role"] == "user"]


def read_corpus(data: Path) -> dict[str, list[Conversation]]:
    """The corpus splits (train, valid, test) a distilled set is built and checked against."""
    splits = {}
    for name in ("train", "valid", "test"):
        path = data / f"{name}.jsonl"
        if not path.is_file():
            raise GemmaikuError(f"no {path} (run `gemmaiku data build` first)")
        splits[name] = read_jsonl(path, label=f"{name}.jsonl").conversations
    return splits


def held_out_prompts(splits: dict[str, list[Conversation]], suite: Path | None = None) -> HeldOut:
    """Every user turn of the valid and test splits, and every prompt of the evaluation suite."""
    from gemmaiku.evaluate.suite import SUITE_FILE, load_prompts

    texts = [
        (turn, f"{name}.jsonl:{conv.line}")
        for name in ("valid", "test")
        for conv in splits[name]
        for turn in _users(conv)
    ]
    for prompt in load_prompts(suite or SUITE_FILE, source="suite"):
        texts += [
            (m["content"], f"suite {prompt.id}") for m in prompt.messages if m["role"] == "user"
        ]
    return HeldOut(texts)


def build_prompts(
    sources: str | Path, data: str | Path, out: str | Path, *, suite: Path | None = None
) -> DistillBuild:
    """Build ``out/prompts.jsonl`` from ``sources`` and rewrite ``out/MANIFEST.json``."""
    sources, data, out = Path(sources), Path(data), Path(out)
    if not sources.is_dir():
        raise GemmaikuError(f"no source folder {sources} (see data/distill/README.md)")
    splits = read_corpus(data)
    held_out = held_out_prompts(splits, suite)
    train_prompts = {c.prompt_key for c in splits["train"]}
    singles = [*line_prompts(sources), *long_prompts(sources), *composed_prompts(sources)]
    drafts = [
        *with_systems(singles, sources),
        *followup_prompts(sources, splits["train"], held_out),
    ]

    result = DistillBuild([])
    seen: set[str] = set()
    for draft in drafts:
        reason = _drop_reason(draft, seen, train_prompts, held_out)
        if reason:
            result.dropped[reason] += 1
            continue
        seen.add(draft.key)
        result.rows.append(draft.record())
    result.rows.sort(key=lambda row: row["id"])
    with atomic_file(out / PROMPTS_FILE) as tmp:
        tmp.write_text("".join(dumps_line(row) for row in result.rows), encoding="utf-8")
    build_info = {
        "corpus_sha256": _corpus_hash(data),
        "sources": {
            str(p.relative_to(sources)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(sources.rglob("*"))
            if p.is_file()
        },
        "drafts": len(drafts),
        "dropped": dict(sorted(result.dropped.items())),
    }
    result.manifest = write_manifest(out, build=build_info)
    return result


def _drop_reason(
    draft: Draft, seen: set[str], train_prompts: set[str], held_out: HeldOut
) -> str | None:
    if draft.key in seen:
        return "duplicate"
    if len(draft.user_turns) == 1 and draft.key in train_prompts:
        return "train prompt"
    if any(held_out.match(turn) for turn in draft.user_turns):
        return "leak"
    return None


def _corpus_hash(data: Path) -> str | None:
    try:
        return json.loads((data / "MANIFEST.json").read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def set_files(folder: Path) -> list[str]:
    """prompts.jsonl, then the round files in name order: what the content hash covers."""
    rounds = sorted(p.name for p in folder.glob("round*.jsonl") if ROUND_FILE.fullmatch(p.name))
    return [PROMPTS_FILE, *rounds]


def content_hash(folder: Path) -> str:
    """sha256 of the ``sha256sum`` listing of :func:`set_files` (see ``HASH_RULE``)."""
    listing = "".join(
        f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}\n"
        for name in set_files(folder)
    )
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def _rows(path: Path) -> list[dict]:
    try:
        return [
            json.loads(line)
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    except (OSError, ValueError) as exc:
        raise GemmaikuError(
            f"cannot read {path} ({exc}); run `gemmaiku data check` on its folder"
        ) from None


def prompt_stats(rows: list[dict]) -> dict:
    """Counts of valid prompt rows: categories, adversarial share, turns, last-turn lengths."""
    categories = Counter(row.get("category") for row in rows)
    adversarial = sum(CATEGORIES.get(c, False) * n for c, n in categories.items())
    users = [[m for m in row.get("messages", []) if m.get("role") == "user"] for row in rows]
    lengths = dict.fromkeys((label for label, _ in LENGTH_BINS), 0)
    for turns in users:
        words = len(turns[-1]["content"].split()) if turns else 0
        lengths[next(label for label, bound in LENGTH_BINS if words <= bound)] += 1
    return {
        "rows": len(rows),
        "per_category": dict(sorted(categories.items(), key=lambda kv: (-kv[1], str(kv[0])))),
        "adversarial_share": round(adversarial / len(rows), 4) if rows else 0.0,
        "multi_turn": sum(len(turns) > 1 for turns in users),
        "with_system": sum(
            row["messages"][0].get("role") == "system" for row in rows if row.get("messages")
        ),
        "long_prompts": sum(len(turns[-1]["content"].split()) > 200 for turns in users if turns),
        "prompt_words": lengths,
    }


def write_manifest(folder: str | Path, *, build: dict | None = None) -> dict:
    """(Re)write MANIFEST.json for the folder's current files; ``build`` defaults to the old one's.

    A round writer calls this after adding ``round<N>.jsonl``.
    """
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    if build is None:
        try:
            build = json.loads(path.read_text(encoding="utf-8")).get("build", {})
        except (OSError, ValueError, AttributeError):
            build = {}
    prompts = _rows(folder / PROMPTS_FILE)
    rounds = {}
    for name in set_files(folder)[1:]:
        rows = _rows(folder / name)
        rounds[name] = {
            "made_by": MODEL_SOURCE,
            "sha256": hashlib.sha256((folder / name).read_bytes()).hexdigest(),
            "rows": len(rows),
            "models": sorted({str(row.get("model")) for row in rows}),
        }
    manifest = {
        "set": SET_NAME,
        "license": LICENSE,
        "sha256": content_hash(folder),
        "hash_rule": HASH_RULE,
        "leak_rule": LEAK_RULE,
        "prompts": {
            "file": PROMPTS_FILE,
            "made_by": "people",
            "sha256": hashlib.sha256((folder / PROMPTS_FILE).read_bytes()).hexdigest(),
            **prompt_stats(prompts),
        },
        "rounds": rounds,
        "build": build,
    }
    write_text_atomic(path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest
