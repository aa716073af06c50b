"""`gemmaiku count` and `gemmaiku check`: output shape, exit status, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gemmaiku.cli import cli, main
from gemmaiku.prosody import cli as prosody_cli

BASHO = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again\n"
BAD = "An old pond\nA frog jumps into the pond\nSplash! Silence again\n"


def invoke(args: list[str], input: bytes | str | None = None):
    return CliRunner().invoke(cli, args, input=input, catch_exceptions=False)


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    """The real entry point in-process: error handling and exit status included."""
    with pytest.raises(SystemExit) as exited:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


def test_check_stdin_pass() -> None:
    result = invoke(["check", "-"], input=BASHO)
    assert result.exit_code == 0
    assert "PASS" in result.output


def test_check_default_reads_stdin() -> None:
    assert invoke(["check"], input=BASHO).exit_code == 0


def test_check_file_mixed_fails_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "haiku.txt"
    path.write_text(BASHO + "\n\n" + BAD + "\n" + "Sure! Here is a haiku:\n" + BASHO)
    result = invoke(["check", str(path)])
    assert result.exit_code == 1
    assert result.output.count("PASS") == 1
    assert result.output.count("FAIL") == 2
    assert "line 1 has 3 syllables (needs 5)" in result.output
    assert "1/3 passed" in result.output


def test_check_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "haiku.txt"
    path.write_text(BASHO + "\n" + BAD)
    result = invoke(["check", "--json", str(path)])
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["index"] for r in rows] == [1, 2]
    assert [r["ok"] for r in rows] == [True, False]
    assert rows[1]["reasons"] == ["line 1 has 3 syllables (needs 5)"]
    assert rows[1]["codes"] == ["syllables"]
    assert rows[0]["distance"] == 0 and rows[1]["distance"] == 2
    assert [line["counts"] for line in rows[0]["lines"]] == [[5], [7], [5]]
    assert rows[0]["lines"][0]["words"][0] == {"text": "An", "counts": [1], "source": "cmudict"}


def test_check_lenient_strips_chatter() -> None:
    text = "Here's a haiku about frogs:\n" + BASHO + "I hope you enjoy it!\n"
    assert invoke(["check", "-"], input=text).exit_code == 1
    result = invoke(["check", "--lenient", "--json", "-"], input=text)
    assert result.exit_code == 0
    assert len(json.loads(result.output)["chatter"]) == 2


def test_count_table_and_json() -> None:
    result = invoke(["count", "fire", "every", "1999"])
    assert result.exit_code == 0
    assert "1 or 2" in result.output and "cmudict" in result.output
    data = json.loads(invoke(["count", "--json", "An old silent pond"]).output)
    assert data["counts"] == [5]
    assert [w["text"] for w in data["words"]] == ["An", "old", "silent", "pond"]


@pytest.mark.parametrize("verb", ["count", "check"])
def test_help_has_example(verb: str) -> None:
    result = invoke([verb, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and f"gemmaiku {verb}" in result.output


def test_empty_input_is_a_one_line_error(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", _stdin(b"\n\n  \n"))
    code, out, err = run_main(["check", "-"], capsys)
    assert code == 2
    assert err.startswith("gemmaiku: error: no haiku in stdin") and err.count("\n") == 1


def test_binary_file_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"GGUF\x00\x01\x02\xff" * 100)
    code, _, err = run_main(["check", str(path)], capsys)
    assert code == 2
    assert "looks binary" in err and err.count("\n") == 1


def test_invalid_utf8_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\u00e9 au lait\n".encode("latin-1"))
    code, _, err = run_main(["check", str(path)], capsys)
    assert code == 2
    assert "not UTF-8" in err and "convert it to UTF-8" in err


def test_missing_file(capsys) -> None:
    code, _, err = run_main(["check", "/no/such/haiku.txt"], capsys)
    assert code == 2 and "no such file" in err


def test_ten_megabyte_file_is_a_fail_verdict(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("the quick brown fox jumps over the lazy dog\n" * 240_000)  # ~10 MB
    assert path.stat().st_size > 10_000_000
    result = invoke(["check", "--json", str(path)])
    assert result.exit_code == 1
    (row,) = [json.loads(line) for line in result.output.splitlines()]
    assert row["codes"] == ["prose"]


def test_over_the_input_limit_is_an_error(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(prosody_cli, "MAX_INPUT_BYTES", 1000)
    path = tmp_path / "big.txt"
    path.write_text(BASHO * 100)
    code, _, err = run_main(["check", str(path)], capsys)
    assert code == 2 and "split it" in err


def test_count_too_long_is_an_error(capsys) -> None:
    code, _, err = run_main(["count", "word " * 5000], capsys)
    assert code == 2 and "at most" in err


def test_real_process_exit_codes(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.txt", tmp_path / "bad.bin"
    good.write_text(BASHO)
    bad.write_bytes(b"\x00\xff\xfe")
    ok = subprocess.run([sys.executable, "-m", "gemmaiku", "check", str(good)],
                        capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    err = subprocess.run([sys.executable, "-m", "gemmaiku", "check", str(bad)],
                         capture_output=True, text=True)  # fmt: skip
    assert err.returncode == 2
    assert "Traceback" not in err.stderr and err.stderr.startswith("gemmaiku: error:")


def _stdin(data: bytes):
    import io

    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")


DANGLING = "Twenty-three, then: the\ntwenty-eight in each row; the\ndozen on each side\n"


def test_check_quality_prints_flags_and_exits_on_unclean() -> None:
    result = invoke(["check", "--quality", "-"], input=DANGLING + "\n" + BASHO)
    assert result.exit_code == 1
    assert "PASS #1 (distance 0), not clean (2 flags)" in result.output
    assert '! line 1 dangling_end: the line ends on "the" (an article)' in result.output
    assert "! line 2 dangling_end" in result.output
    assert "PASS #2 (distance 0), clean" in result.output
    assert "2/2 passed, 1/2 clean" in result.output
    # without --quality the same input passes: the old behaviour and exit codes hold
    plain = invoke(["check", "-"], input=DANGLING + "\n" + BASHO)
    assert plain.exit_code == 0 and "clean" not in plain.output and "dangling" not in plain.output


def test_check_quality_json_and_clean_exit() -> None:
    result = invoke(["check", "--quality", "--json", "-"], input=BASHO)
    assert result.exit_code == 0
    row = json.loads(result.output)
    assert row["ok"] is True and row["clean"] is True
    assert row["quality"] == {"strict": True, "clean": True, "kinds": [], "flags": []}
    row = json.loads(invoke(["check", "--quality", "--json", "-"], input=DANGLING).output)
    assert row["clean"] is False and row["quality"]["kinds"] == ["dangling_end"]
    assert row["quality"]["flags"][0] == {
        "kind": "dangling_end", "line": 0, "text": "the",
        "detail": 'the line ends on "the" (an article), which cannot end a phrase'}  # fmt: skip


def test_check_quality_not_strict_is_not_clean() -> None:
    result = invoke(["check", "--quality", "--json", "-"], input=BAD)
    assert result.exit_code == 1
    row = json.loads(result.output)
    assert row["ok"] is False and row["clean"] is False and row["quality"]["flags"] == []


def test_check_quality_prompt_gives_context() -> None:
    haiku = "zorblax hums at dawn\nthe little robot wakes up\nsteam writes on the pane\n"  # lower case: capitalised it is a name
    flagged = json.loads(invoke(["check", "--quality", "--json", "-"], input=haiku).output)
    assert flagged["quality"]["kinds"] == ["non_word"]
    known = invoke(["check", "--quality", "--json", "--prompt", "Tell me about Zorblax", "-"], input=haiku)
    assert json.loads(known.output)["clean"] is True and known.exit_code == 0


def test_check_prompt_without_quality_is_an_error(capsys) -> None:
    code, _, err = run_main(["check", "--prompt", "rain", "-"], capsys)
    assert code == 2 and "add --quality" in err


def test_check_quality_lenient_judges_the_poem_without_its_chatter() -> None:
    text = "Here's a haiku about frogs:\n" + BASHO
    strict = json.loads(invoke(["check", "--quality", "--json", "-"], input=text).output)
    assert strict["clean"] is False and strict["quality"]["kinds"] == ["meta_talk"]  # "haiku" in the preamble
    lenient = invoke(["check", "--quality", "--lenient", "--json", "-"], input=text)
    assert lenient.exit_code == 0 and json.loads(lenient.output)["clean"] is True
