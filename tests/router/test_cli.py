"""`gemmaiku route`: decisions, and --train writing only where --out says."""

from __future__ import annotations

import json

from click.testing import CliRunner

from gemmaiku.cli import cli
from gemmaiku.errors import GemmaikuError
from gemmaiku.router.model import SHIPPED_ROUTER


def test_route_prints_a_decision():
    result = CliRunner().invoke(cli, ["route", "write me a poem about the sea", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["route"] in ("haiku", "prose")


def _data(tmp_path):
    rows = [{"text": f"write a haiku about {w} number {i}", "label": "haiku", "kind": "poem"}
            for i, w in enumerate(["snow", "rain", "moss", "tea", "moon"] * 4)]
    rows += [{"text": f"fix this python error in line {i} of {w}.py", "label": "prose", "kind": "code"}
             for i, w in enumerate(["main", "app", "util", "db", "cli"] * 4)]
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_train_writes_only_where_out_says(tmp_path):
    shipped = {p.name: p.stat().st_mtime_ns for p in SHIPPED_ROUTER.iterdir()}
    data = _data(tmp_path)
    result = CliRunner().invoke(cli, ["route", "--train", "--data", str(data), "--json"])
    assert isinstance(result.exception, GemmaikuError) and "--train needs --out" in str(result.exception)
    out = tmp_path / "router"
    result = CliRunner().invoke(cli, ["route", "--train", "--data", str(data), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["saved"] == str(out)
    assert sorted(p.name for p in out.iterdir()) == ["router.json", "router.safetensors"]
    assert {p.name: p.stat().st_mtime_ns for p in SHIPPED_ROUTER.iterdir()} == shipped
