"""The self-distillation folder: building prompts.jsonl from sources, and `gemmaiku data check`
on it (leaks of held-out prompts, categories, ids, the manifest hash, model-made replies)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from gemmaiku.data.distill import build_prompts, content_hash, write_manifest
from gemmaiku.data.distill_check import check_distill
from gemmaiku.data.leak import is_near_copy

POND = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again"
ROOF = "tin roof in the dark\neach drop finds its own small note\nthe gutter hums low"
MAPLE = "maple by the gate\nit lets go of one red leaf\nand then all the rest"
STREET = "gray street after noon\numbrellas bloom at crossings\nthen fold one by one"
NOT_575 = "a cold still pond\na frog jumps into the pond\nsplash silence again"

TEST_PROMPT = "Write a haiku about a lantern left burning on an empty pier."
VALID_PROMPT = "What is the capital of Portugal and why is it there?"
SUITE_PROMPT = "Write a five-paragraph essay about why owls hunt at night."


def _line(prompt: str, haiku: str, category: str) -> str:
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": haiku}]
    return json.dumps({"messages": messages, "category": category}) + "\n"


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A tiny split folder: two train conversations, one valid, one test; and a suite file."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text(
        _line("rain on the roof", ROOF, "haiku_request")
        + _line("tell me about autumn", MAPLE, "question")
    )
    (data / "valid.jsonl").write_text(_line(VALID_PROMPT, POND, "question"))
    (data / "test.jsonl").write_text(_line(TEST_PROMPT, STREET, "haiku_request"))
    (tmp_path / "suite.jsonl").write_text(
        json.dumps({"id": "essay-01", "category": "essay", "prompt": SUITE_PROMPT}) + "\n"
    )
    return data


def _prompt_row(row_id: str, text: str, category: str = "question", earlier: tuple = ()) -> dict:
    return {
        "id": row_id,
        "category": category,
        "messages": [*earlier, {"role": "user", "content": text}],
    }


def _folder(parent: Path, rows: list[dict], rounds: dict[str, list[dict]] | None = None) -> Path:
    folder = parent / "distill"
    folder.mkdir()
    (folder / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name, round_rows in (rounds or {}).items():
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in round_rows))
    write_manifest(folder)
    return folder


def _check(folder: Path, corpus: Path):
    return check_distill(folder, data=corpus, suite=corpus.parent / "suite.jsonl")


def _reply(prompt: dict, haiku: str, row_id: str = "r1-1") -> dict:
    return {
        "id": row_id, "prompt_id": prompt["id"], "category": prompt["category"],
        "messages": [*copy.deepcopy(prompt["messages"]), {"role": "assistant", "content": haiku}],
        "source": "model", "model": "gemmaiku-270m", "decoder": {"temperature": 0.6, "meter": True},
    }  # fmt: skip


GOOD = [
    _prompt_row("q-1", "why do kettles whistle?"),
    _prompt_row(
        "h-1", "now one about the sea", "haiku_request",
        earlier=({"role": "user", "content": "rain on the roof"}, {"role": "assistant", "content": ROOF}),
    ),
]  # fmt: skip


def test_a_clean_folder_with_a_strict_round_passes(tmp_path, corpus):
    folder = _folder(tmp_path, GOOD, {"round1.jsonl": [_reply(GOOD[0], POND)]})
    report = _check(folder, corpus)
    assert report.ok, report.problems
    assert report.files == {"prompts.jsonl": 2, "round1.jsonl": 1}
    assert report.stats["multi_turn"] == 1 and report.stats["rounds"] == {"round1.jsonl": 1}


@pytest.mark.parametrize(
    "leaked",
    [
        TEST_PROMPT.upper(),  # normalized exact copy of a test prompt
        "Write a haiku about a lantern left burning on an empty dock.",  # one word changed
        VALID_PROMPT,  # a valid-split prompt
        "please: " + SUITE_PROMPT,  # a suite prompt with a few words in front
    ],
)
def test_a_leaked_held_out_prompt_is_caught(tmp_path, corpus, leaked):
    folder = _folder(tmp_path, [*GOOD, _prompt_row("q-2", leaked)])
    report = _check(folder, corpus)
    assert [(p.kind, p.where) for p in report.problems] == [("leak (prompt)", "prompts.jsonl:3")]


def test_a_leak_in_a_follow_up_turn_is_caught(tmp_path, corpus):
    earlier = (
        {"role": "user", "content": "rain on the roof"},
        {"role": "assistant", "content": ROOF},
    )
    folder = _folder(tmp_path, [_prompt_row("q-1", TEST_PROMPT, "haiku_request", earlier)])
    assert [p.kind for p in _check(folder, corpus).problems] == ["leak (prompt)"]


def test_bad_rows_are_located(tmp_path, corpus):
    earlier = (
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": STREET},
    )  # a test haiku
    rows = [
        *GOOD,
        _prompt_row("q-3", "what is a bog?", category="poetry"),
        _prompt_row("q-1", "a different prompt, same id"),
        _prompt_row("q-4", "why do kettles whistle?"),
        {"id": "q-5", "category": "question", "messages": [{"role": "user", "content": "hi"},
                                                            {"role": "assistant", "content": ROOF}]},
        _prompt_row("q-6", "and one more", earlier=earlier),
    ]  # fmt: skip
    report = _check(_folder(tmp_path, rows), corpus)
    found = {(p.where, p.kind) for p in report.problems}
    assert found == {
        ("prompts.jsonl:3", "shape"),  # unknown category
        ("prompts.jsonl:4", "duplicate id"),
        ("prompts.jsonl:5", "duplicate prompt"),
        ("prompts.jsonl:6", "shape"),  # ends with the assistant's turn
        ("prompts.jsonl:7", "not a train haiku"),
    }
    assert any("unknown category 'poetry'" in p.detail for p in report.problems)


def test_a_wrong_manifest_hash_is_caught(tmp_path, corpus):
    folder = _folder(tmp_path, GOOD)
    with open(folder / "prompts.jsonl", "a") as handle:
        handle.write(json.dumps(_prompt_row("q-9", "how do snails sleep?")) + "\n")
    report = _check(folder, corpus)
    assert [p.kind for p in report.problems] == ["manifest"]
    write_manifest(folder)
    assert _check(folder, corpus).ok


def test_adding_a_round_changes_the_content_hash(tmp_path, corpus):
    folder = _folder(tmp_path, GOOD)
    before = content_hash(folder)
    (folder / "round1.jsonl").write_text(json.dumps(_reply(GOOD[0], POND)) + "\n")
    assert content_hash(folder) != before
    assert [p.kind for p in _check(folder, corpus).problems] == ["manifest"]


def test_model_made_replies_must_be_strict_575_and_match_their_prompt(tmp_path, corpus):
    wrong_messages = _reply(GOOD[0], MAPLE, "r1-4")
    wrong_messages["messages"][0]["content"] = "a different question"
    rounds = {"round1.jsonl": [
        _reply(GOOD[0], NOT_575, "r1-1"),
        _reply(GOOD[1], "Here is a haiku:\n" + POND, "r1-2"),
        {**_reply(GOOD[0], POND, "r1-3"), "source": "human"},
        wrong_messages,
        {**_reply(GOOD[0], ROOF, "r1-5"), "prompt_id": "nope"},
        _reply(GOOD[0], STREET, "r1-1"),
        _reply(GOOD[1], STREET, "r1-7"),
    ]}  # fmt: skip
    report = _check(_folder(tmp_path, GOOD, rounds), corpus)
    found = {(p.where, p.kind) for p in report.problems}
    assert found == {
        ("round1.jsonl:1", "haiku"),
        ("round1.jsonl:2", "haiku"),  # four lines
        ("round1.jsonl:2", "chatter"),
        ("round1.jsonl:3", "shape"),
        ("round1.jsonl:4", "shape"),
        ("round1.jsonl:5", "shape"),
        ("round1.jsonl:6", "duplicate id"),
        ("round1.jsonl:7", "duplicate haiku"),
    }


def test_stray_files_are_reported(tmp_path, corpus):
    folder = _folder(tmp_path, GOOD)
    (folder / "replies.jsonl").write_text("")
    assert [p.kind for p in _check(folder, corpus).problems] == ["unexpected file"]


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [
        (
            "Can you write a haiku about the internet?",
            "can you write a haiku about a lunchbox",
            False,
        ),
        ("what's the capital of Peru", "What's the capital of France?", False),
        (
            "Write a haiku about a bus stop in the early fog.",
            "write a haiku about a bus stop in the rain",
            True,
        ),
        ("Is it raining?", "is it  RAINING", True),
        ("hi", "hi there", False),
    ],
)
def test_the_near_copy_rule(a, b, near):
    assert is_near_copy(a, b) is near
    assert is_near_copy(b, a) is near


def test_a_pasted_passage_is_a_near_copy():
    passage = " ".join(f"word{i}" for i in range(40))
    assert is_near_copy(
        "Summarize this for my boss please:\n\n" + passage + "\nThanks a lot!", passage
    )
    assert not is_near_copy(passage[: len(passage) // 3], passage)


def _sources(tmp_path: Path) -> Path:
    sources = tmp_path / "sources"
    (sources / "prompts").mkdir(parents=True)
    (sources / "long").mkdir()
    (sources / "prompts" / "question.txt").write_text(
        "# a comment\nwhy do kettles whistle?\n\nWhy do kettles whistle\n"
        + TEST_PROMPT
        + "\nrain on the roof\n"
    )
    (sources / "long" / "summary.txt").write_text(
        "Summarize:\n\nline one\nline two\n%\nSummarize this too\n"
    )
    compose = {"code": [{"forms": ["write {what} in {lang}", "{lang}: {what}"],
                         "slots": {"what": ["a parser", "a timer"], "lang": ["Go", "Rust"]}}]}  # fmt: skip
    (sources / "compose.json").write_text(json.dumps(compose))
    (sources / "systems.json").write_text(
        json.dumps({"share": 1.0, "by_category": {"code": ["Be brief."]}})
    )
    followups = {"insist_prose": [{"after": ["question"], "turns": ["say it in prose"]}]}
    (sources / "followups.json").write_text(json.dumps(followups))
    return sources


def test_build_drops_repeats_train_prompts_and_leaks_and_is_deterministic(tmp_path, corpus):
    sources = _sources(tmp_path)
    first = build_prompts(sources, corpus, tmp_path / "a", suite=corpus.parent / "suite.jsonl")
    second = build_prompts(sources, corpus, tmp_path / "b", suite=corpus.parent / "suite.jsonl")
    assert (tmp_path / "a" / "prompts.jsonl").read_bytes() == (
        tmp_path / "b" / "prompts.jsonl"
    ).read_bytes()
    assert first.manifest["sha256"] == second.manifest["sha256"]
    assert dict(first.dropped) == {"duplicate": 1, "leak": 1, "train prompt": 1}
    texts = {row["messages"][-1]["content"] for row in first.rows if row["category"] != "code"}
    assert texts == {
        "why do kettles whistle?", "Summarize:\n\nline one\nline two", "Summarize this too",
        "say it in prose",
    }  # fmt: skip
    code = [row for row in first.rows if row["category"] == "code"]
    assert sorted("parser" in row["messages"][-1]["content"] for row in code) == [False, True]
    assert all(row["messages"][0] == {"role": "system", "content": "Be brief."} for row in code)
    follow = next(row for row in first.rows if row["category"] == "insist_prose")
    assert [m["role"] for m in follow["messages"]] == ["user", "assistant", "user"]
    assert follow["messages"][1]["content"] == MAPLE  # the question-category train conversation
    report = check_distill(tmp_path / "a", data=corpus, suite=corpus.parent / "suite.jsonl")
    assert report.ok, report.problems


def test_a_source_with_an_unknown_category_is_a_clear_error(tmp_path, corpus):
    from gemmaiku.errors import GemmaikuError

    sources = _sources(tmp_path)
    (sources / "prompts" / "poetry.txt").write_text("a poem\n")
    with pytest.raises(GemmaikuError, match="unknown category 'poetry'"):
        build_prompts(sources, corpus, tmp_path / "out", suite=corpus.parent / "suite.jsonl")


def test_cli_checks_a_distill_folder(corpus):
    from click.testing import CliRunner

    from gemmaiku.cli import cli

    folder = _folder(corpus, [*GOOD, _prompt_row("q-2", VALID_PROMPT)])  # data/distill
    result = CliRunner().invoke(cli, ["data", "check", str(folder), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["problem_counts"] == {"leak (prompt)": 1}


def test_cli_check_without_a_path_covers_the_distill_folder(corpus, monkeypatch):
    from click.testing import CliRunner

    from gemmaiku.cli import cli

    _folder(corpus, [*GOOD, _prompt_row("q-2", VALID_PROMPT)])  # data/distill beside the splits
    monkeypatch.chdir(corpus.parent)
    result = CliRunner().invoke(cli, ["data", "check", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["path"] == "data" and report["distill"]["path"] == "data/distill"
    assert report["distill"]["problem_counts"] == {"leak (prompt)": 1}
