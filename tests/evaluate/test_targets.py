"""Target specs: each kind parses to the right endpoint; every mistake is one clear line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gemmaiku.cli import cli, main
from gemmaiku.errors import GemmaikuError
from gemmaiku.evaluate.targets import (
    GGUFTarget,
    GuardedTarget,
    OllamaTarget,
    OpenAITarget,
    open_target,
    parse_target,
)
from gemmaiku.runtime.guarded import GuardedEngine


def test_http_kinds_parse_base_and_model():
    t = parse_target("ollama:http://127.0.0.1:11434/gemmaiku")
    assert isinstance(t, OllamaTarget) and (t.base, t.model) == ("http://127.0.0.1:11434", "gemmaiku")
    t = parse_target("ollama:http://h:1/hf.co/user/model:Q4_K_M")
    assert t.model == "hf.co/user/model:Q4_K_M"
    t = parse_target("openai:http://host/v1/gemmaiku")
    assert isinstance(t, OpenAITarget) and (t.base, t.model) == ("http://host/v1", "gemmaiku")
    t = parse_target("openai:https://host:8000/proxy/v1/google/gemma-3-270m")
    assert (t.base, t.model) == ("https://host:8000/proxy/v1", "google/gemma-3-270m")
    t = parse_target("openai:http://127.0.0.1:8080/api/gemmaiku-router", api_key="tok")
    assert t.base == "http://127.0.0.1:8080/api" and t.client.headers["authorization"] == "Bearer tok"


def test_openai_body_translates_ollama_options():
    t = parse_target("openai:http://host/v1/m")
    body = t.request_body([{"role": "user", "content": "hi"}], {"temperature": 0.3, "seed": 4, "num_predict": 20, "top_k": 5})
    assert body["temperature"] == 0.3 and body["seed"] == 4 and body["max_tokens"] == 20
    assert "top_k" not in body and "params" not in body and body["stream"] is True
    webui = parse_target("openai:http://host:8080/api/m")
    body = webui.request_body([{"role": "user", "content": "hi"}], {"temperature": 0.3, "seed": 4})
    assert body["params"] == {"temperature": 0.3, "seed": 4}  # Open WebUI drops top-level sampling fields


def test_gguf_kind_and_bare_path(base_gguf_path):
    t = parse_target(f"gguf:{base_gguf_path}")
    assert isinstance(t, GGUFTarget) and not t.engine.loaded  # loading waits for the first request
    assert isinstance(parse_target(str(base_gguf_path)), GGUFTarget)
    guarded = open_target(str(base_gguf_path), guard=3)  # in process: the server's own guard
    assert isinstance(guarded, GGUFTarget) and isinstance(guarded.engine, GuardedEngine)
    assert guarded.engine.attempts == 3 and guarded.engine.meter == (5, 7, 5)
    assert isinstance(open_target("ollama:http://127.0.0.1:9/m", guard=2), GuardedTarget)


@pytest.fixture
def base_gguf_path(tmp_path):
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")  # parsing never reads the file
    return path


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("foo:bar", "start it with one of gguf:, ollama:, openai:"),
        ("model.bin", "start it with one of"),
        ("gguf:", "no path"),
        ("gguf:/nonexistent/x.gguf", "no such GGUF"),
        ("ollama:localhost:11434/m", "not an http(s) URL"),
        ("ollama:http://127.0.0.1:11434", "no model name"),
        ("openai:http://host/m", "needs /v1/MODEL or /api/MODEL"),
        ("openai:http://host/v1/", "needs /v1/MODEL"),
    ],
)
def test_bad_specs_are_one_clear_error(spec, says):
    with pytest.raises(GemmaikuError, match=None) as info:
        parse_target(spec)
    message = str(info.value)
    assert says in message and "\n" not in message and spec in message


def test_cli_prints_one_line_and_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["eval", "adversarial", "-t", "ollama:nope/x", "--quiet"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gemmaiku: error: bad target 'ollama:nope/x'") and "\n" not in err


def test_unreachable_server_is_a_clear_error():
    t = parse_target("ollama:http://127.0.0.1:9/m")  # port 9 (discard): nothing listens
    with pytest.raises(GemmaikuError, match="cannot reach http://127.0.0.1:9/api/chat"):
        t.generate([{"role": "user", "content": "hi"}], {})


def test_bad_options_and_temperatures_fail_before_running():
    runner = CliRunner()
    result = runner.invoke(cli, ["eval", "sweep", "-t", "ollama:http://127.0.0.1:9/m", "--temperatures", "1:0:0.2"])
    assert isinstance(result.exception, GemmaikuError) and "bad --temperatures" in str(result.exception)
    result = runner.invoke(cli, ["eval", "adversarial", "-t", "ollama:http://127.0.0.1:9/m", "-o", "top_p=7"])
    assert isinstance(result.exception, GemmaikuError) and "top_p" in str(result.exception)
    result = runner.invoke(cli, ["eval", "adversarial", "-t", "ollama:http://127.0.0.1:9/m", "--category", "poetry"])
    assert isinstance(result.exception, GemmaikuError) and "unknown categories poetry" in str(result.exception)
