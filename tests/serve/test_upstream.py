"""A model served from another Ollama/OpenAI server, relayed chunk by chunk."""

import pytest
from fastapi.testclient import TestClient

from gemmaiku.errors import GemmaikuError
from gemmaiku.serve import Registry, create_app
from gemmaiku.serve.upstream import parse_upstream, served_upstream
from tests.serve.conftest import FAKE_REPLY, LiveServer


@pytest.mark.parametrize("spec,expected", [
    ("ollama:http://10.0.0.2:11434/llama3.2:1b", ("ollama", "http://10.0.0.2:11434", "llama3.2:1b")),
    ("openai:http://host:8000/v1/Qwen/Qwen2.5-7B", ("openai", "http://host:8000/v1", "Qwen/Qwen2.5-7B")),
])
def test_upstream_specs_parse(spec, expected):
    assert parse_upstream(spec) == expected


@pytest.mark.parametrize("spec", ["http://host/model", "ollama:host/model", "ollama:http://host:11434/"])
def test_bad_upstream_specs_are_clear_errors(spec):
    with pytest.raises(GemmaikuError, match="upstream"):
        parse_upstream(spec)


@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_upstream_model_relays_the_remote_reply(fake_registry, kind):
    with LiveServer(fake_registry) as remote:
        spec = f"ollama:{remote}/haiku" if kind == "ollama" else f"openai:{remote}/v1/haiku"
        local = Registry()
        local.add(served_upstream("far", spec))
        client = TestClient(create_app(local))
        body = client.post("/api/chat", json={"model": "far", "stream": False,
                                              "messages": [{"role": "user", "content": "hi"}]}).json()
        assert body["message"]["content"] == FAKE_REPLY
        assert body["done_reason"] == "stop" and body["eval_count"] > 0
        assert client.get("/api/tags").json()["models"][0]["details"]["format"] == "upstream"
    seen = fake_registry.get("haiku").engine.seen[-1]["messages"]
    assert seen[-1] == {"role": "user", "content": "hi"}
