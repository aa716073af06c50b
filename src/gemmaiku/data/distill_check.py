"""Check a self-distillation folder (``data/distill/``, layout in ``gemmaiku.data.distill``).

What fails, as located problems like the corpus check's:

- prompts.jsonl: a row that is not ``{"id", "category", "messages"}``, an unknown category, a
  repeated id or prompt, roles out of order or a last turn that is not the user's, an earlier
  assistant turn that is not a haiku of the train split, a user turn that nearly copies a
  held-out prompt (valid/test user turns, the evaluation suite; ``leak.LEAK_RULE``);
- round<N>.jsonl (model-made): a row without ``ROUND_KEYS`` or ``"source": "model"``, an unknown
  ``prompt_id``, messages that are not the prompt's plus one assistant turn, a reply that is not
  strict 5-7-5 or carries chatter, the same reply twice in a round;
- MANIFEST.json missing or its ``sha256`` not the files' content hash; any other ``.jsonl`` file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from gemmaiku.data.check import HaikuChecker, Report, prosody_checker
from gemmaiku.data.corpus import (
    Problem,
    category_problems,
    chatter,
    iter_lines,
    messages_problems,
    normalize_text,
)
from gemmaiku.data.distill import (
    MANIFEST_FILE,
    MODEL_SOURCE,
    PROMPT_KEYS,
    PROMPTS_FILE,
    ROUND_FILE,
    ROUND_KEYS,
    content_hash,
    held_out_prompts,
    prompt_stats,
    read_corpus,
    set_files,
)
from gemmaiku.errors import GemmaikuError


def is_distill_folder(path: Path) -> bool:
    return path.is_dir() and (path / PROMPTS_FILE).is_file()


def read_rows(path: Path, label: str) -> tuple[list[tuple[str, dict]], list[Problem]]:
    """(where, object) for each JSON line, and the lines that are not JSON objects."""
    rows, problems = [], []
    for number, text, error in iter_lines(path):
        where = f"{label}:{number}"
        if error is not None:
            problems.append(Problem("encoding", where, error))
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(
                Problem("json", where, f"invalid JSON ({exc.msg} at column {exc.colno})")
            )
            continue
        if not isinstance(obj, dict):
            problems.append(
                Problem("shape", where, f"expected a JSON object, got {type(obj).__name__}")
            )
            continue
        rows.append((where, obj))
    return rows, problems


def key_problems(obj: dict, keys: tuple[str, ...]) -> list[str]:
    missing = [f"missing {key!r}" for key in keys if key not in obj]
    extra = [f"unexpected key {key!r}" for key in obj if key not in keys]
    return missing + extra


def reply_problems(where: str, text: str, check_haiku: HaikuChecker) -> list[Problem]:
    problems = []
    reason = check_haiku(text)
    if reason is not None:
        problems.append(Problem("haiku", where, f"{reason}: {text!r}"))
    problems += [Problem("chatter", where, f"{rule}: {text!r}") for rule in chatter(text)]
    return problems


def check_prompts(
    rows: list[tuple[str, dict]], train_haiku: set[str], held_out, check_haiku: HaikuChecker
) -> tuple[dict[str, dict], list[Problem]]:
    """Valid prompts by id, and the problems of every row."""
    prompts: dict[str, dict] = {}
    seen_ids: dict[str, str] = {}
    seen_prompts: dict[str, str] = {}
    problems: list[Problem] = []
    for where, obj in rows:
        shape = key_problems(obj, PROMPT_KEYS) + category_problems(
            obj.get("category"), required=True
        )
        shape += messages_problems(obj.get("messages"), last="user")
        if not isinstance(obj.get("id"), str) or not obj.get("id", "").strip():
            shape.append("'id' must be a non-empty string")
        if shape:
            problems += [Problem("shape", where, detail) for detail in shape]
            continue
        row_id, messages = obj["id"], obj["messages"]
        if row_id in seen_ids:
            problems.append(
                Problem("duplicate id", where, f"id {row_id!r} also at {seen_ids[row_id]}")
            )
        seen_ids.setdefault(row_id, where)
        users = [m["content"] for m in messages if m["role"] == "user"]
        key = "\x1f".join(normalize_text(u) for u in users)
        if key in seen_prompts:
            problems.append(
                Problem(
                    "duplicate prompt",
                    where,
                    f"same prompt as {seen_prompts[key]}: {users[0][:80]!r}",
                )
            )
        seen_prompts.setdefault(key, where)
        for turn in users:
            origin = held_out.match(turn)
            if origin is not None:
                problems.append(
                    Problem("leak (prompt)", where, f"nearly copies {origin}: {turn[:80]!r}")
                )
        for haiku in (m["content"] for m in messages if m["role"] == "assistant"):
            problems += reply_problems(where, haiku, check_haiku)
            if normalize_text(haiku) not in train_haiku:
                problems.append(
                    Problem(
                        "not a train haiku",
                        where,
                        f"earlier replies must come from train.jsonl: {haiku!r}",
                    )
                )
        prompts.setdefault(row_id, obj)
    return prompts, problems


def round_row_problems(where: str, obj: dict, prompts: dict[str, dict]) -> list[str]:
    shape = key_problems(obj, ROUND_KEYS) + messages_problems(obj.get("messages"), last="assistant")
    if obj.get("source") != MODEL_SOURCE:
        shape.append(f"'source' must be {MODEL_SOURCE!r} (model-made replies only)")
    if not isinstance(obj.get("id"), str) or not obj.get("id", "").strip():
        shape.append("'id' must be a non-empty string")
    if not isinstance(obj.get("model"), str) or not obj.get("model", "").strip():
        shape.append("'model' must name the model that wrote the reply")
    if not isinstance(obj.get("decoder"), dict) or not obj.get("decoder"):
        shape.append("'decoder' must be an object of decoder settings")
    if shape:
        return shape
    prompt = prompts.get(obj["prompt_id"])
    if prompt is None:
        return [f"unknown prompt_id {obj['prompt_id']!r} (not in {PROMPTS_FILE})"]
    if obj["category"] != prompt["category"]:
        return [f"category {obj['category']!r} is not the prompt's {prompt['category']!r}"]
    if obj["messages"][:-1] != prompt["messages"]:
        return [f"messages must be prompt {obj['prompt_id']}'s messages plus one assistant turn"]
    return []


def check_round(
    label: str, rows: list[tuple[str, dict]], prompts: dict[str, dict], seen_ids: dict[str, str],
    check_haiku: HaikuChecker,
) -> list[Problem]:  # fmt: skip
    problems: list[Problem] = []
    replies: dict[str, str] = {}
    for where, obj in rows:
        shape = round_row_problems(where, obj, prompts)
        if shape:
            problems += [Problem("shape", where, detail) for detail in shape]
            continue
        if obj["id"] in seen_ids:
            problems.append(
                Problem("duplicate id", where, f"id {obj['id']!r} also at {seen_ids[obj['id']]}")
            )
        seen_ids.setdefault(obj["id"], where)
        reply = obj["messages"][-1]["content"]
        problems += reply_problems(where, reply, check_haiku)
        key = normalize_text(reply)
        if key in replies:
            problems.append(
                Problem("duplicate haiku", where, f"same reply as {replies[key]}: {reply!r}")
            )
        replies.setdefault(key, where)
    return problems


def manifest_problems(folder: Path) -> list[Problem]:
    path = folder / MANIFEST_FILE
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))["sha256"]
    except FileNotFoundError:
        return [Problem("manifest", str(path), "missing (run `gemmaiku data distill-prompts`)")]
    except (ValueError, KeyError, TypeError):
        return [
            Problem(
                "manifest",
                str(path),
                "unreadable or missing 'sha256' (run `gemmaiku data distill-prompts`)",
            )
        ]
    actual = content_hash(folder)
    if recorded != actual:
        return [Problem("manifest", str(path), f"sha256 {recorded[:12]}... does not match the files "
                        f"({actual[:12]}...); run `gemmaiku data distill-prompts`")]  # fmt: skip
    return []


def stray_files(folder: Path) -> Iterator[Problem]:
    for path in sorted(folder.glob("*.jsonl")):
        if path.name != PROMPTS_FILE and not ROUND_FILE.fullmatch(path.name):
            yield Problem("unexpected file", str(path), "name model-made replies round<N>.jsonl")


def default_corpus(folder: Path) -> Path:
    return folder.parent if (folder.parent / "train.jsonl").is_file() else Path("data")


def check_distill(
    folder: str | Path,
    *,
    data: str | Path | None = None,
    suite: Path | None = None,
    check_haiku: HaikuChecker | None = None,
) -> Report:
    """Validate a distillation folder against the corpus in ``data`` (default: its parent)."""
    folder = Path(folder)
    if not is_distill_folder(folder):
        raise GemmaikuError(f"no {PROMPTS_FILE} in {folder} (run `gemmaiku data distill-prompts`)")
    splits = read_corpus(Path(data) if data else default_corpus(folder))
    held_out = held_out_prompts(splits, suite)
    train_haiku = {normalize_text(h) for c in splits["train"] for h in c.haiku}
    check_haiku = check_haiku or prosody_checker()

    report = Report(str(folder))
    rows, report.problems = read_rows(folder / PROMPTS_FILE, PROMPTS_FILE)
    prompts, problems = check_prompts(rows, train_haiku, held_out, check_haiku)
    report.problems += problems
    report.files[PROMPTS_FILE] = len(rows)
    seen_ids: dict[str, str] = {}
    for name in set_files(folder)[1:]:
        round_rows, problems = read_rows(folder / name, name)
        report.problems += problems + check_round(name, round_rows, prompts, seen_ids, check_haiku)
        report.files[name] = len(round_rows)
    report.problems += list(stray_files(folder)) + manifest_problems(folder)
    report.stats = {
        **prompt_stats(list(prompts.values())),
        "rounds": {name: n for name, n in report.files.items() if name != PROMPTS_FILE},
    }
    if not rows and not report.problems:
        report.problems.append(Problem("empty", str(folder / PROMPTS_FILE), "no prompts"))
    return report
