"""`gemmaiku data check` on small synthetic corpora: each kind of problem is found and located."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemmaiku.data.check import check_corpus
from gemmaiku.data.corpus import chatter, normalize_text, split_of

# Three real 5-7-5 haiku (checked by gemmaiku.prosody in strict mode).
POND = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again"
ROOF = "tin roof in the dark\neach drop finds its own small note\nthe gutter hums low"
MAPLE = "maple by the gate\nit lets go of one red leaf\nand then all the rest"


def line(prompt: str, haiku: str, category: str = "haiku_request", **extra) -> dict:
    return {
        "category": category,
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": haiku}],
        **extra,
    }


def write(path: Path, rows: list) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def kinds(report) -> list[str]:
    return sorted({p.kind for p in report.problems})


def test_a_clean_file_passes_with_statistics(tmp_path):
    report = check_corpus(
        write(
            tmp_path / "a.jsonl",
            [
                line("pond", POND),
                line("write a 1000 word essay", ROOF, "essay"),
                line("hi", MAPLE, "greeting"),
            ],
        )
    )
    assert report.ok, report.problems
    stats = report.stats
    assert stats["conversations"] == 3
    assert stats["per_category"] == {"essay": 1, "greeting": 1, "haiku_request": 1}
    assert stats["adversarial"] == 1
    assert stats["top_first_words"] == {"an": 1, "tin": 1, "maple": 1}
    assert stats["prompt_words"]["1-5"] == 3


def test_bad_json_wrong_roles_and_shapes_are_located(tmp_path):
    rows = [
        '{"messages": [',  # truncated JSON
        '["not", "an", "object"]',
        {"messages": [{"role": "assistant", "content": POND}]},  # starts with the assistant
        {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": POND},
                {"role": "user", "content": "c"},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "system", "content": "x"},
                {"role": "assistant", "content": ROOF},
            ]
        },
        {"messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": ROOF}]},
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": ROOF}]},
        {
            "category": "poetry",
            "messages": [{"role": "user", "content": "z"}, {"role": "assistant", "content": MAPLE}],
        },
        {"messages": [], "extra": 1},
    ]
    report = check_corpus(write(tmp_path / "bad.jsonl", rows))
    assert not report.ok
    by_line = {}
    for problem in report.problems:
        by_line.setdefault(int(problem.where.rsplit(":", 1)[1]), []).append(problem.detail)
    assert set(by_line) == set(range(1, 11))
    assert "invalid JSON" in by_line[1][0]
    assert "expected a JSON object" in by_line[2][0]
    assert "expected 'user'" in by_line[3][0]
    assert "expected 'assistant'" in by_line[4][0]
    assert "last turn must be the assistant's" in by_line[5][0]
    assert "system is only allowed first" in by_line[6][0]
    assert "unknown role 'bot'" in by_line[7][0]
    assert "empty" in by_line[8][0]
    assert "unknown category 'poetry'" in by_line[9][0]
    assert any("unexpected key 'extra'" in d for d in by_line[10])


def test_a_4_7_5_haiku_and_chatter_are_rejected(tmp_path):
    four = "A cold silent pond\nA frog jumps into the pond\nSplash! Silence again".replace(
        "A cold silent pond", "A cold still pond"
    )
    rows = [
        line("pond", four),
        line("roof", "Here is a haiku:\n" + ROOF),
        line("maple", "**" + MAPLE.replace("\n", "**\n", 1)),
        line("ok", POND + " 🐸"),
    ]
    report = check_corpus(write(tmp_path / "c.jsonl", rows))
    flagged = {int(p.where.rsplit(":", 1)[1]) for p in report.problems}
    assert flagged == {1, 2, 3, 4}
    syllable = [p for p in report.problems if p.where.endswith(":1")]
    assert syllable and all(p.kind == "haiku" for p in syllable)


def test_each_reply_of_a_multi_turn_chat_is_checked(tmp_path):
    row = {"messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "rain"}, {"role": "assistant", "content": ROOF},
        {"role": "user", "content": "again"}, {"role": "assistant", "content": "rain rain rain"},
    ]}  # fmt: skip
    report = check_corpus(write(tmp_path / "m.jsonl", [row]))
    assert [p.where for p in report.problems] == ["m.jsonl:1 (reply 2)"]
    assert report.stats["multi_turn"] == 1 and report.stats["with_system"] == 1


def test_duplicate_haiku_and_duplicate_prompts(tmp_path):
    rows = [
        line("pond please", POND),
        line("Pond, please!", ROOF),
        line("something else", POND.upper()),
    ]
    report = check_corpus(write(tmp_path / "d.jsonl", rows))
    assert kinds(report) == ["duplicate haiku", "duplicate prompt"]
    assert {p.where for p in report.problems} == {"d.jsonl:2", "d.jsonl:3"}


def _split_folder(tmp_path: Path, assignment: dict[str, list[dict]]) -> Path:
    folder = tmp_path / "splits"
    folder.mkdir()
    for name in ("train", "valid", "test"):
        write(folder / f"{name}.jsonl", assignment.get(name, []))
    return folder


def _prompt_in(split: str, stem: str) -> str:
    return next(
        f"{stem} {i}" for i in range(10_000) if split_of(normalize_text(f"{stem} {i}")) == split
    )


def test_leakage_between_splits_by_prompt_and_by_haiku(tmp_path):
    p_train, p_test = _prompt_in("train", "rain"), _prompt_in("test", "maple")
    folder = _split_folder(tmp_path, {
        "train": [line(p_train, ROOF), line(p_test, POND)],  # p_test belongs in test
        "test": [line(p_test.upper(), MAPLE), line(_prompt_in("test", "frog"), ROOF)],
    })  # fmt: skip
    report = check_corpus(folder)
    assert "leak (prompt)" in kinds(report)
    assert "leak (haiku)" in kinds(report)
    assert "wrong split" in kinds(report)


def test_binary_file_is_reported_not_crashed(tmp_path):
    path = tmp_path / "blob.jsonl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\n")
    report = check_corpus(path)
    assert not report.ok
    assert {p.kind for p in report.problems} == {"encoding"}


def test_missing_path_is_a_clear_error(tmp_path):
    from gemmaiku.errors import GemmaikuError

    with pytest.raises(GemmaikuError, match="no such file or folder"):
        check_corpus(tmp_path / "nope")


@pytest.mark.parametrize(
    ("text", "rule"),
    [("Sure! " + ROOF, "preamble"), ("Title: Rain\n" + ROOF, "title or label"), ("- " + ROOF, "markdown"),
     ('"' + ROOF + '"', "quotes around the poem"), (ROOF + " (5-7-5)", "trailing note")],
)  # fmt: skip
def test_chatter_rules(text, rule):
    assert rule in chatter(text)
    assert chatter(ROOF) == chatter(POND) == chatter(MAPLE) == []


def test_cli_exit_status_and_json(tmp_path):
    from click.testing import CliRunner

    from gemmaiku.cli import cli

    good = write(tmp_path / "good.jsonl", [line("pond", POND)])
    bad = write(tmp_path / "bad.jsonl", [line("pond", POND), line("pond", POND)])
    runner = CliRunner()
    ok = runner.invoke(cli, ["data", "check", str(good), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["ok"] is True
    failed = runner.invoke(cli, ["data", "check", str(bad)])
    assert failed.exit_code == 1
    assert "duplicate haiku" in failed.output and "bad.jsonl:2" in failed.output
