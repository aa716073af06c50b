"""Paired comparison of two reports: rates on common pairs and McNemar on the discordant ones."""

import json

import pytest
from click.testing import CliRunner

from gemmaiku.cli import cli
from gemmaiku.errors import GemmaikuError
from gemmaiku.evaluate.compare import compare


def rows(passes: list[tuple[bool, bool]], prefix: str = "p") -> list[dict]:
    return [{"prompt_id": f"{prefix}{i}", "sample": 0, "ok": ok, "clean": clean} for i, (ok, clean) in enumerate(passes)]


def test_discordant_pairs_and_rates_are_counted_per_measure():
    a = rows([(False, False)] * 8 + [(True, True)] * 2)
    b = rows([(True, True)] * 6 + [(True, False)] * 2 + [(False, False)] * 2)
    result = compare(a, b)
    assert result["pairs"] == 10
    assert result["strict"]["only_a"] == 2 and result["strict"]["only_b"] == 8
    assert result["clean"]["a"]["passed"] == 2 and result["clean"]["b"]["passed"] == 6
    assert result["clean"]["only_a"] == 2 and result["clean"]["only_b"] == 6
    assert 0 < result["strict"]["mcnemar_p"] < 1


def test_only_common_pairs_count_and_none_in_common_is_an_error():
    a = rows([(True, True)] * 3)
    b = rows([(False, False)] * 2) + rows([(True, True)], prefix="other")
    result = compare(a, b)
    assert result["pairs"] == 2 and result["only_in_a"] == 1 and result["only_in_b"] == 1
    with pytest.raises(GemmaikuError, match="share no"):
        compare(a, rows([(True, True)], prefix="x"))


def test_the_cli_reads_two_report_folders(tmp_path):
    for name, passes in (("a", [(False, False)] * 4), ("b", [(True, True)] * 4)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows(passes)))
    result = CliRunner().invoke(cli, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["strict"]["only_b"] == 4
    missing = CliRunner().invoke(cli, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "nope")])
    assert missing.exit_code != 0 and "no samples.jsonl" in str(missing.exception)
