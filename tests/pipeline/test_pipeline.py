"""The README's main job on the real model and the shipped adapter."""

import json

import pytest
from click.testing import CliRunner

from gemmaiku.base.gguf_io import open_gguf
from gemmaiku.cli import cli
from gemmaiku.modelfile import lint_modelfile, load_modelfile
from gemmaiku.pipeline import SHIPPED_ADAPTER

pytestmark = [pytest.mark.slow, pytest.mark.real_model]


def test_shipped_adapter_is_a_peft_adapter_with_a_model_card():
    config = json.loads((SHIPPED_ADAPTER / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] > 0
    assert (SHIPPED_ADAPTER / "adapter_model.safetensors").stat().st_size > 100_000
    card = (SHIPPED_ADAPTER / "README.md").read_text()
    manifest = json.loads((SHIPPED_ADAPTER.parents[1] / "data" / "MANIFEST.json").read_text())
    assert manifest["sha256"] in card, "the model card must name the exact training data"


def test_artifacts_are_a_linted_modelfile_over_an_f16_gguf(haiku_artifacts):
    info = open_gguf(haiku_artifacts.gguf)
    assert info.metadata["general.architecture"] == "gemma3"
    assert info.metadata["general.file_type"] == 1  # F16
    assert "<start_of_turn>" in info.metadata["tokenizer.chat_template"]
    modelfile = load_modelfile(haiku_artifacts.modelfile)
    assert modelfile.resolve(modelfile.from_) == haiku_artifacts.gguf.resolve()
    assert [f for f in lint_modelfile(modelfile) if f.severity == "warning"] == []
    assert modelfile.parameters["temperature"] == 0.6 and "<end_of_turn>" in modelfile.parameters["stop"]


def test_second_run_reuses_every_step_and_runs_the_quick_check(haiku_artifacts):
    built = {p: p.stat().st_mtime_ns for p in (haiku_artifacts.gguf, *haiku_artifacts.fused.iterdir())}
    result = CliRunner().invoke(cli, ["pipeline", "--out", str(haiku_artifacts.out), "--check", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["gguf"] == str(haiku_artifacts.gguf)
    assert {p: p.stat().st_mtime_ns for p in built} == built  # nothing rebuilt
    assert report["check"]["total"] == 2
    assert all(set(row) >= {"category", "reply", "ok"} for row in report["check"]["rows"])


def test_missing_adapter_is_one_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["pipeline", "--out", str(tmp_path / "o"), "--adapter", str(tmp_path)])
    assert result.exit_code != 0
    assert "no adapter at" in str(result.exception) or "no adapter at" in result.output
