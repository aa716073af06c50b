"""gemmaiku modelfile lint / render / write / params through the real CLI entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gemmaiku.chat import DEFAULT_SYSTEM_PROMPT, render_chat
from gemmaiku.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def run(capsys, *args):
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def seed(tmp_path):
    shutil.copy(FIXTURES / "seed.Modelfile", tmp_path / "Modelfile")
    (tmp_path / "gemma-haiku.gguf").write_bytes(b"GGUF")
    return tmp_path / "Modelfile"


def test_lint_seed_prints_the_warning_and_strict_fails(capsys, seed):
    code, out, err = run(capsys, "modelfile", "lint", str(seed))
    assert code == 0
    assert out.startswith(f"{seed}:2: warning: SYSTEM is set but the TEMPLATE never renders it")
    assert "[system-dropped]" in out and "1 warning, 0 notes" in err
    code, out, _ = run(capsys, "modelfile", "lint", str(seed), "--strict", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["warnings"] == 1 and report["findings"][0]["code"] == "system-dropped"
    assert report["findings"][0]["line"] == 2


def test_lint_parse_error_is_one_line_and_exit_2(capsys, tmp_path):
    bad = tmp_path / "Modelfile"
    bad.write_text("FROM x\nFORM y\n")
    code, out, err = run(capsys, "modelfile", "lint", str(bad))
    assert code == 2
    assert err == f"gemmaiku: error: {bad}:2: unknown instruction 'FORM' (did you mean FROM?)\n"


def test_render_prints_the_exact_prompt(capsys, seed):
    code, out, _ = run(capsys, "modelfile", "render", str(seed), "--prompt", "rain")
    assert code == 0
    assert out == "<start_of_turn>user\nrain<end_of_turn>\n<start_of_turn>model\n"


def test_render_messages_json_and_system(capsys, tmp_path, monkeypatch):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    modelfile = tmp_path / "Modelfile"
    run(capsys, "modelfile", "write", "--from", str(gguf), "-o", str(modelfile))
    messages = [{"role": "user", "content": "rain"}, {"role": "assistant", "content": "a haiku"}]
    (tmp_path / "chat.json").write_text(json.dumps({"messages": messages}))
    code, out, _ = run(
        capsys,
        "modelfile",
        "render",
        str(modelfile),
        "-m",
        str(tmp_path / "chat.json"),
        "-p",
        "snow",
        "--json",
    )
    assert code == 0
    full = [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        *messages,
        {"role": "user", "content": "snow"},
    ]
    assert json.loads(out)["prompt"] == render_chat(full, add_generation_prompt=True, bos=False)
    code, out, _ = run(
        capsys, "modelfile", "render", str(modelfile), "--system", "Prose.", "-p", "snow"
    )
    assert out == "<start_of_turn>user\nProse.\n\nsnow<end_of_turn>\n<start_of_turn>model\n"
    code, _, err = run(capsys, "modelfile", "render", str(modelfile))
    assert code == 2 and "nothing to render" in err


def test_write_then_lint_strict_is_clean(capsys, tmp_path):
    gguf = tmp_path / "export" / "gemmaiku.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    target = tmp_path / "ollama" / "Modelfile"
    code, out, _ = run(
        capsys, "modelfile", "write", "--from", str(gguf), "-o", str(target), "--json"
    )
    assert code == 0
    assert json.loads(out) == {"path": str(target), "from": str(gguf), "warnings": []}
    assert target.read_text().startswith("FROM ../export/gemmaiku.gguf\n")
    code, out, err = run(capsys, "modelfile", "lint", str(target), "--strict")
    assert code == 0 and out == "" and "0 warnings, 0 notes" in err


def test_write_refuses_a_missing_gguf(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "modelfile",
        "write",
        "--from",
        str(tmp_path / "nope.gguf"),
        "-o",
        str(tmp_path / "Modelfile"),
    )
    assert code == 2 and "no such file" in err
    assert not (tmp_path / "Modelfile").exists()


def test_params_lists_the_table(capsys):
    code, out, _ = run(capsys, "modelfile", "params", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["temperature"]["type"] == "float" and rows["temperature"]["default"] == 0.8
    assert rows["mirostat"]["status"] == "deprecated" and rows["tfs_z"]["status"] == "removed"
