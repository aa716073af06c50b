"""The HTTP targets against a live `gemmaiku serve` app, and a tiny run on the real base GGUF."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gemmaiku.cli import cli
from gemmaiku.evaluate.targets import parse_target
from gemmaiku.serve import Registry
from gemmaiku.serve.registry import ServedModel, served_from_gguf
from tests.serve.conftest import FAKE_REPLY, FakeEngine, LiveServer, write_tiny_gguf

MESSAGES = [{"role": "system", "content": "Answer in haiku."}, {"role": "user", "content": "the sea?"}]


@pytest.fixture
def fake_server(tmp_path: Path):
    engine = FakeEngine()
    registry = Registry([tmp_path])
    registry.add(ServedModel(name="haiku", path=write_tiny_gguf(tmp_path / "tiny.gguf"), engine=engine))
    with LiveServer(registry) as url:
        yield url, engine


@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_http_targets_stream_text_counts_and_forward_options(fake_server, kind):
    url, engine = fake_server
    spec = f"ollama:{url}/haiku" if kind == "ollama" else f"openai:{url}/v1/haiku"
    target = parse_target(spec)
    try:
        reply = target.generate(MESSAGES, {"temperature": 0.25, "seed": 11, "num_predict": 64})
    finally:
        target.close()
    assert reply.text == FAKE_REPLY
    assert reply.generated_tokens == len(FAKE_REPLY.split(" ")) and reply.prompt_tokens == 7
    assert reply.finish_reason == "stop" and 0 < reply.ttft_s <= reply.total_s
    seen = engine.seen[-1]
    assert seen["options"].temperature == 0.25 and seen["options"].seed == 11 and seen["options"].num_predict == 64
    assert seen["messages"][0] == {"role": "system", "content": "Answer in haiku."}


@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_adversarial_against_a_live_server(fake_server, prompts_file, tmp_path, kind):
    url, engine = fake_server
    spec = f"ollama:{url}/haiku" if kind == "ollama" else f"openai:{url}/v1/haiku"
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["eval", "adversarial", "-t", spec, "--prompts", str(prompts_file),
                                      "--per-category", "1", "-n", "2", "--out", str(out), "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "report.json").read_text())
    assert payload["summary"]["overall"] == {"passed": 8, "n": 8, "rate": 1.0, "ci95": [0.6756, 1.0]}
    assert payload["targets"][0]["url"].startswith(url) and payload["targets"][0]["model"] == "haiku"
    assert [s["options"].seed for s in engine.seen[:2]] == [0, 1]


def test_server_error_is_reported_clearly(fake_server):
    url, _ = fake_server
    target = parse_target(f"ollama:{url}/no-such-model")
    with pytest.raises(Exception, match="answered 404"):
        target.generate(MESSAGES, {})


# -- the real base model (slow: llama.cpp, one thread, a handful of tokens) ------------------------
@pytest.mark.slow
@pytest.mark.real_model
def test_adversarial_on_the_base_gguf(base_gguf, tmp_path):
    out = tmp_path / "base"
    result = CliRunner().invoke(cli, ["eval", "adversarial", "-t", f"gguf:{base_gguf}", "--category", "haiku_request",
                                      "--category", "jailbreak", "--per-category", "1", "-n", "1",
                                      "--num-predict", "8", "--threads", "1", "--out", str(out), "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "report.json").read_text())
    assert payload["summary"]["overall"]["n"] == 2
    assert payload["targets"][0]["sha256"].startswith("a5fd3b62")
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert all(0 < s["generated_tokens"] <= 8 for s in samples)
    assert all(s["ok"] == (s["codes"] == []) for s in samples)


@pytest.mark.slow
@pytest.mark.real_model
@pytest.mark.e2e
def test_greedy_replies_match_across_layers(base_gguf, tmp_path):
    """Temperature 0: the same tokens in process, through /api/chat and through /v1."""
    options = {"temperature": 0.0, "seed": 3, "num_predict": 6}
    messages = [{"role": "user", "content": "Write a haiku about rain."}]
    local = parse_target(f"gguf:{base_gguf}", threads=1)
    try:
        expected = local.generate(messages, options)
    finally:
        local.close()
    registry = Registry([base_gguf.parent])
    registry.add(served_from_gguf("base", base_gguf, n_threads=1))
    with LiveServer(registry) as url:
        for spec in (f"ollama:{url}/base", f"openai:{url}/v1/base"):
            target = parse_target(spec)
            try:
                reply = target.generate(messages, options)
            finally:
                target.close()
            assert reply.text == expected.text, spec
            assert reply.generated_tokens == expected.generated_tokens == 6
