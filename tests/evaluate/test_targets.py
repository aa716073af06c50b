"""Target specs: each kind parses to the right endpoint; every mistake is one clear line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gemmaiku.cli import cli, main
from gemmaiku.errors import GemmaikuError
from gemmaiku.evaluate.targets import Target, open_target, parse_target
from gemmaiku.runtime import Engine
from gemmaiku.runtime.remote import RemoteGenerator
from tests.serve.conftest import fake_registry  # noqa: F401 - a fixture: our server with a fake engine


def test_http_kinds_open_the_remote_client():
    t = parse_target("ollama:http://127.0.0.1:11434/gemmaiku")
    assert isinstance(t, Target) and isinstance(t.generator, RemoteGenerator)
    assert (t.generator.url, t.generator.spec.model) == ("http://127.0.0.1:11434/api/chat", "gemmaiku")
    assert t.describe() == {"spec": "ollama:http://127.0.0.1:11434/gemmaiku", "kind": "ollama",
                            "url": "http://127.0.0.1:11434", "model": "gemmaiku"}
    t = parse_target("openai:http://127.0.0.1:8080/api/gemmaiku-router", api_key="tok")
    assert t.generator.url == "http://127.0.0.1:8080/api/chat/completions" and t.generator.api_key == "tok"


def test_gguf_kind_and_bare_path(base_gguf_path):
    t = parse_target(f"gguf:{base_gguf_path}")
    assert isinstance(t.generator, Engine) and not t.generator.loaded  # loading waits for the first request
    assert isinstance(parse_target(str(base_gguf_path)).generator, Engine)
    guarded = open_target(str(base_gguf_path), guard=3)  # in process: the server's own guarded generator
    from gemmaiku.runtime.guarded import GuardedEngine

    assert isinstance(guarded.generator, GuardedEngine) and guarded.generator.engine is not None
    assert guarded.describe()["guard"] == 3 and guarded.describe()["kind"] == "gguf"


def test_guarding_a_remote_model_is_a_clear_error():
    with pytest.raises(GemmaikuError, match="needs a local GGUF model"):
        open_target("ollama:http://127.0.0.1:9/m", guard=2)


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


def test_a_target_times_its_generator(fake_registry):  # noqa: F811
    """A reply from our own server through the remote client: text, counts and the clock."""
    from tests.serve.conftest import FAKE_REPLY, LiveServer

    with LiveServer(fake_registry) as url:
        for spec in (f"ollama:{url}/haiku", f"openai:{url}/v1/haiku"):
            reply = parse_target(spec).generate([{"role": "user", "content": "hi"}], {"seed": 3})
            assert reply.text == FAKE_REPLY and reply.finish_reason == "stop" and reply.generated_tokens > 0
            assert 0 < reply.ttft_s <= reply.total_s


def test_bad_options_and_temperatures_fail_before_running():
    runner = CliRunner()
    result = runner.invoke(cli, ["eval", "sweep", "-t", "ollama:http://127.0.0.1:9/m", "--temperatures", "1:0:0.2"])
    assert isinstance(result.exception, GemmaikuError) and "bad --temperatures" in str(result.exception)
    result = runner.invoke(cli, ["eval", "adversarial", "-t", "ollama:http://127.0.0.1:9/m", "-o", "top_p=7"])
    assert isinstance(result.exception, GemmaikuError) and "top_p" in str(result.exception)
    result = runner.invoke(cli, ["eval", "adversarial", "-t", "ollama:http://127.0.0.1:9/m", "--category", "poetry"])
    assert isinstance(result.exception, GemmaikuError) and "unknown categories poetry" in str(result.exception)
