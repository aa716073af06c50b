"""The corpus format: categories, how a line is read and validated, and how splits are assigned.

A corpus line is one JSON object::

    {"category": "essay", "messages": [{"role": "system", ...}?, {"role": "user", ...},
                                       {"role": "assistant", ...}, ...]}

the chat format mlx_lm's ``ChatDataset`` and TRL's ``SFTTrainer`` read. Both read only the
``messages`` column (mlx_lm also ``tools``); TRL's trainer drops columns the model does not take,
so the extra ``category`` key is safe in the split files and is kept there for per-category
evaluation.

A conversation's split is a pure function of its normalized first user prompt, so the same
prompt can never land in two splits, and adding lines never moves existing ones.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# category -> adversarial? (an adversarial prompt pulls the model away from the haiku form)
CATEGORIES: dict[str, bool] = {
    "essay": True,
    "code": True,
    "translation": True,
    "summary": True,
    "yes_no": True,
    "one_word": True,
    "format": True,
    "math": True,
    "jailbreak": True,
    "insist_prose": True,
    "haiku_request": False,
    "greeting": False,
    "small_talk": False,
    "question": False,
}

# split name -> upper bound (exclusive) of the split's bucket range in [0, 100)
SPLITS: dict[str, int] = {"train": 88, "valid": 94, "test": 100}
SPLIT_FILES = {name: f"{name}.jsonl" for name in SPLITS}
SPLIT_RULE = "bucket = int(sha256(normalized first user prompt)[:8], 16) % 100; train < 88 <= valid < 94 <= test"

ROLES = ("system", "user", "assistant")
ALLOWED_KEYS = {"messages", "category"}

# Chatter: anything in an assistant turn besides the three lines of the poem.
# (name, pattern over the whole turn) — a table, so adding a rule is adding a row.
CHATTER_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "preamble",
        re.compile(
            r"^\s*(?:(?:here(?:'s| is| are)|this is) (?:a |an |your |the |my )?(?:haiku|poem|answer)|(?:sure|certainly|of course|okay|ok|absolutely)[,!.:]|as an ai\b)",
            re.I,
        ),
    ),
    ("title or label", re.compile(r"^\s*(title|haiku|poem)\b[^\n]*:", re.I | re.M)),
    ("markdown", re.compile(r"^\s*(#{1,6}\s|[-*+]\s|\d+[.)]\s|```|>\s)|\*\*|__", re.M)),
    ("quotes around the poem", re.compile(r"^\s*[\"“”'‘]|[\"“”'’]\s*$")),
    ("emoji", re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f]")),
    (
        "trailing note",
        re.compile(r"\(\s*\d+\s*[-/]\s*\d+\s*[-/]\s*\d+\s*\)|\bsyllables?\s*\)", re.I),
    ),
)

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


@dataclass(frozen=True)
class Conversation:
    """One validated corpus line and where it came from."""

    messages: tuple[dict[str, str], ...]
    category: str | None
    source: str
    line: int

    @property
    def first_prompt(self) -> str:
        return next(m["content"] for m in self.messages if m["role"] == "user")

    @property
    def prompt_key(self) -> str:
        return normalize_text(self.first_prompt)

    @property
    def user_key(self) -> str:
        return "\x1f".join(
            normalize_text(m["content"]) for m in self.messages if m["role"] == "user"
        )

    @property
    def haiku(self) -> list[str]:
        return [m["content"] for m in self.messages if m["role"] == "assistant"]

    @property
    def has_system(self) -> bool:
        return self.messages[0]["role"] == "system"

    @property
    def exchanges(self) -> int:
        return sum(m["role"] == "assistant" for m in self.messages)

    def record(self) -> dict:
        """The line as written to a split file (``messages`` first, for readers that peek)."""
        out: dict = {"messages": [dict(m) for m in self.messages]}
        if self.category is not None:
            out["category"] = self.category
        return out

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass
class Problem:
    """One thing wrong with the corpus, located at a file and line."""

    kind: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.detail}"


@dataclass
class ReadResult:
    conversations: list[Conversation] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def normalize_text(text: str) -> str:
    """Case-, accent-width- and punctuation-insensitive form used to detect duplicates and leaks."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def split_of(prompt_key: str) -> str:
    """The fixed split of a normalized first prompt (see ``SPLIT_RULE``)."""
    bucket = int(hashlib.sha256(prompt_key.encode("utf-8")).hexdigest()[:8], 16) % 100
    return next(name for name, bound in SPLITS.items() if bucket < bound)


def chatter(text: str) -> list[str]:
    """Names of the chatter rules an assistant turn breaks."""
    return [name for name, pattern in CHATTER_RULES if pattern.search(text)]


def _shape_problems(obj: object, *, require_category: bool) -> list[str]:
    """Structural problems of one decoded line (empty when it is a valid conversation)."""
    if not isinstance(obj, dict):
        return [f"expected a JSON object, got {type(obj).__name__}"]
    problems = [f"unexpected key {key!r}" for key in obj if key not in ALLOWED_KEYS]
    problems += category_problems(obj.get("category"), required=require_category)
    return problems + messages_problems(obj.get("messages"), last="assistant")


def category_problems(category: object, *, required: bool) -> list[str]:
    if category is None:
        return ["missing 'category'"] if required else []
    if category not in CATEGORIES:
        return [f"unknown category {category!r} (one of: {', '.join(CATEGORIES)})"]
    return []


def messages_problems(messages: object, *, last: str) -> list[str]:
    """Problems of a ``messages`` list: optional system first, then user/assistant alternating,
    ending with a ``last`` turn ("assistant" for a conversation, "user" for a prompt)."""
    if not isinstance(messages, list) or not messages:
        return ["'messages' must be a non-empty list"]
    problems = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            problems.append(
                f"message {index + 1} must be an object with exactly 'role' and 'content'"
            )
        elif message["role"] not in ROLES:
            problems.append(f"message {index + 1} has unknown role {message['role']!r}")
        elif not isinstance(message["content"], str) or not message["content"].strip():
            problems.append(f"message {index + 1} has empty or non-string content")
    if problems:
        return problems
    turns = messages[1:] if messages[0]["role"] == "system" else messages
    for index, message in enumerate(turns):
        expected = "user" if index % 2 == 0 else "assistant"
        if message["role"] != expected:
            where = (
                "system is only allowed first"
                if message["role"] == "system"
                else "roles must alternate user/assistant"
            )
            return [f"turn {index + 1} is {message['role']!r}, expected {expected!r} ({where})"]
    if not turns:
        return ["no user/assistant turns"]
    if turns[-1]["role"] != last:
        return [f"the last turn must be the {last}'s"]
    return []


def iter_lines(path: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """Yield (line number, text, decode error) for each non-blank line of ``path``."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
                continue
            if "\x00" in text:
                yield number, None, "contains NUL bytes (binary file?)"
                continue
            if text.strip():
                yield number, text, None


def read_jsonl(
    path: Path, *, label: str | None = None, require_category: bool = False
) -> ReadResult:
    """Read and structurally validate one JSONL file (prosody is checked separately)."""
    result = ReadResult()
    label = label or str(path)
    with open(path, "rb") as handle:
        if b"\x00" in handle.read(8192):
            result.problems.append(
                Problem(
                    "encoding", f"{label}:1", "binary file (NUL bytes); expected UTF-8 JSON lines"
                )
            )
            return result
    for number, text, error in iter_lines(path):
        where = f"{label}:{number}"
        if error is not None:
            result.problems.append(Problem("encoding", where, error))
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            result.problems.append(
                Problem("json", where, f"invalid JSON ({exc.msg} at column {exc.colno})")
            )
            continue
        shape = _shape_problems(obj, require_category=require_category)
        if shape:
            result.problems.extend(Problem("shape", where, detail) for detail in shape)
            continue
        messages = tuple({"role": m["role"], "content": m["content"]} for m in obj["messages"])
        result.conversations.append(Conversation(messages, obj.get("category"), label, number))
    return result


def dumps_line(record: dict) -> str:
    """The canonical serialisation of one line (stable, so the content hash is reproducible)."""
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": ")) + "\n"
