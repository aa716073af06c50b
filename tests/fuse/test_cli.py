"""`gemmaiku fuse` on the command line: JSON summaries, conversion, one-line errors."""

from __future__ import annotations

import json

import pytest

from gemmaiku.cli import main
from gemmaiku.fuse import read_adapter

from .helpers import load_weights, make_mlx_adapter, make_peft_adapter


def run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(list(map(str, args)))
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def test_fuse_json(tiny_base, tmp_path, capsys):
    adapter = make_mlx_adapter(tmp_path / "adapter", dora=True)
    main(
        [
            "fuse",
            "--base",
            str(tiny_base),
            "--adapter",
            str(adapter),
            "--out",
            str(tmp_path / "out"),
            "--json",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["action"] == "fuse" and summary["format"] == "mlx" and summary["dora"] is True
    assert summary["modules"] == 14 and summary["out"] == str(tmp_path / "out")
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_convert_then_fuse_on_the_command_line(tiny_base, tmp_path, capsys):
    peft = make_peft_adapter(tiny_base, tmp_path / "peft")
    main(
        [
            "fuse",
            "--adapter",
            str(peft),
            "--out",
            str(tmp_path / "mlx"),
            "--convert-to",
            "mlx",
            "--json",
        ]
    )
    assert json.loads(capsys.readouterr().out) == {
        "action": "convert",
        "from": "peft",
        "to": "mlx",
        "out": str(tmp_path / "mlx"),
        "seconds": pytest.approx(0, abs=60),
    }
    assert read_adapter(tmp_path / "mlx").format == "mlx"
    for source, out in ((peft, "a"), (tmp_path / "mlx", "b")):
        main(
            [
                "fuse",
                "--base",
                str(tiny_base),
                "--adapter",
                str(source),
                "--out",
                str(tmp_path / out),
            ]
        )
    a, b = load_weights(tmp_path / "a"), load_weights(tmp_path / "b")
    assert all(a[key].equal(b[key]) for key in a)


def test_default_base_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GEMMAIKU_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GEMMAIKU_DEBUG", raising=False)
    adapter = make_mlx_adapter(tmp_path / "adapter")
    code, _, err = run(capsys, "fuse", "--adapter", adapter, "--out", tmp_path / "out")
    assert code == 2
    assert (
        err
        == f"gemmaiku: error: no base model at {tmp_path / 'home' / 'base' / 'gemma3-270m'} (run `gemmaiku base` first, or give --base)\n"
    )


def test_dtype_with_convert_is_refused(tiny_base, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GEMMAIKU_DEBUG", raising=False)
    adapter = make_mlx_adapter(tmp_path / "adapter")
    code, _, err = run(
        capsys,
        "fuse",
        "--adapter",
        adapter,
        "--out",
        tmp_path / "x",
        "--convert-to",
        "peft",
        "--dtype",
        "float16",
    )
    assert code == 2 and "--dtype applies to fusing" in err
    assert not (tmp_path / "x").exists()
