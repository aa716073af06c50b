"""Prompt sets: the built-in adversarial suite, a user's JSONL, the corpus test split.

The built-in suite (``prompts/adversarial.jsonl``, shipped in the package) holds prompts written
for this project, none of them in the training corpus (a test checks), in the categories of
:data:`SUITE_CATEGORIES`. A line is ``{"id": ..., "category": ..., "prompt": ...}``; user files
may give ``messages`` (a conversation ending in a user turn) instead of ``prompt``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from gemmaiku.chat import DEFAULT_SYSTEM_PROMPT
from gemmaiku.errors import GemmaikuError

SUITE_FILE = resources.files("gemmaiku.evaluate") / "prompts" / "adversarial.jsonl"  # package data
TEST_SPLIT = Path("data") / "test.jsonl"  # the corpus, in a checkout's root (--test-split for another)

# category -> what it tries
SUITE_CATEGORIES: dict[str, str] = {
    "essay": "asks for long prose (essays, letters, reports)",
    "code": "asks for code, a fix or a shell command",
    "yes_no": "wants a one-word yes or no",
    "format": "demands JSON, a table, a list, CSV or a fixed template",
    "math": "asks for a number, a calculation or a proof",
    "translation": "asks for a translation or an answer in another language",
    "jailbreak": "tells the model to drop the haiku rule (role play, fake system messages)",
    "long_input": "buries the request under a long text to summarise or answer from",
    "haiku_request": "plainly asks for a haiku (the easy case, a control)",
}


@dataclass(frozen=True)
class Prompt:
    id: str
    category: str
    messages: tuple[dict[str, str], ...]  # ends with a user turn; may start with a system turn
    source: str = "suite"
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def text(self) -> str:
        return self.messages[-1]["content"]

    def with_system(self, system: str | None) -> list[dict[str, str]]:
        """The conversation to send, by the one policy (gemmaiku.modelfile.prompt): ``system``
        unless the prompt brings its own."""
        from gemmaiku.modelfile.prompt import conversation

        return conversation(self.messages, system=system)


def resolve_system(value: str | None) -> str | None:
    """`--system default|none|TEXT` -> the system prompt to send (None: send none)."""
    if value is None or value.lower() == "default":
        return DEFAULT_SYSTEM_PROMPT
    if value.lower() == "none" or not value.strip():
        return None
    return value


def _read_lines(path: Path) -> list[tuple[int, dict]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GemmaikuError(f"no such prompt file: {path}") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise GemmaikuError(f"cannot read {path}: {exc} (expected UTF-8 JSON lines)") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GemmaikuError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise GemmaikuError(f"{path}:{number}: expected a JSON object per line")
        rows.append((number, obj))
    return rows


def _messages_of(obj: dict, where: str) -> tuple[dict[str, str], ...]:
    if isinstance(obj.get("prompt"), str) and obj["prompt"].strip():
        return ({"role": "user", "content": obj["prompt"]},)
    messages = obj.get("messages")
    if isinstance(messages, list) and messages and all(
        isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
        and isinstance(m.get("content"), str) for m in messages
    ):
        turns = [dict(role=m["role"], content=m["content"]) for m in messages]
        while turns and turns[-1]["role"] == "assistant":
            turns.pop()  # a corpus line: evaluate the reply to its last user turn
        if turns and turns[-1]["role"] == "user":
            return tuple(turns)
    raise GemmaikuError(f"{where}: needs a non-empty \"prompt\" string or \"messages\" ending in a user turn")


def load_prompts(path: Path, *, source: str | None = None, category_prefix: str = "") -> list[Prompt]:
    """Prompts from a JSONL file (``prompt`` or ``messages``, plus ``category``)."""
    prompts = []
    for number, obj in _read_lines(path):
        where = f"{path}:{number}"
        category = obj.get("category") or "uncategorized"
        if not isinstance(category, str):
            raise GemmaikuError(f"{where}: \"category\" must be a string")
        prompt_id = str(obj.get("id") or f"{path.stem}-{number}")
        prompts.append(Prompt(prompt_id, category_prefix + category, _messages_of(obj, where),
                              source or path.name))
    if not prompts:
        raise GemmaikuError(f"{path} holds no prompts")
    return prompts


def builtin_suite(categories: Sequence[str] = ()) -> list[Prompt]:
    prompts = load_prompts(SUITE_FILE, source="suite")
    if categories:
        unknown = sorted(set(categories) - set(SUITE_CATEGORIES))
        if unknown:
            raise GemmaikuError(f"unknown categories {', '.join(unknown)} (choose from {', '.join(SUITE_CATEGORIES)})")
        prompts = [p for p in prompts if p.category in categories]
    return prompts


def test_split(path: Path = TEST_SPLIT) -> list[Prompt]:
    """The corpus test split, categories prefixed ``test:`` to keep them apart from the suite's."""
    if not path.is_file():
        raise GemmaikuError(f"no test split at {path} (run `gemmaiku data build` first, or pass --test-split PATH)")
    return load_prompts(path, source="test-split", category_prefix="test:")


def take(prompts: Sequence[Prompt], per_category: int | None) -> list[Prompt]:
    """At most ``per_category`` prompts of each category, in file order (all when None)."""
    if not per_category:
        return list(prompts)
    seen: dict[str, int] = {}
    out = []
    for p in prompts:
        if seen.get(p.category, 0) < per_category:
            seen[p.category] = seen.get(p.category, 0) + 1
            out.append(p)
    return out
