"""A model served from another Ollama/OpenAI server: relayed chunk by chunk, with the format (and
so the router's JSON guarantee) passed through."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gemmaiku.router.model import RouterModel
from gemmaiku.router.tasks import TASK_OUTPUTS
from gemmaiku.serve import Registry, create_app
from gemmaiku.serve.registry import ServedModel
from gemmaiku.serve.upstream import served_upstream
from tests.serve.conftest import FAKE_REPLY, FakeEngine, LiveServer

HI = [{"role": "user", "content": "hi"}]


def _spec(kind: str, remote: str) -> str:
    return f"ollama:{remote}/haiku" if kind == "ollama" else f"openai:{remote}/v1/haiku"


@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_upstream_model_relays_the_remote_reply(fake_registry, kind):
    with LiveServer(fake_registry) as remote:
        local = Registry()
        local.add(served_upstream("far", _spec(kind, remote), parameters={"temperature": 0.3}))
        client = TestClient(create_app(local))
        body = client.post("/api/chat", json={"model": "far", "stream": False, "messages": HI,
                                              "options": {"seed": 5}}).json()
        assert body["message"]["content"] == FAKE_REPLY
        assert body["done_reason"] == "stop" and body["eval_count"] > 0
        assert client.get("/api/tags").json()["models"][0]["details"]["format"] == "upstream"
        # a requested format reaches the remote server, which decodes under its own grammar
        client.post("/api/chat", json={"model": "far", "stream": False, "messages": HI, "format": "json"})
    first, second = fake_registry.get("haiku").engine.seen
    assert first["messages"][-1] == {"role": "user", "content": "hi"} and first["grammar"] is None
    assert (first["options"].temperature, first["options"].seed) == (0.3, 5)  # the upstream's own, and the request's
    assert second["grammar"] is not None and second["grammar"].json_format == "json"


@pytest.mark.parametrize("kind", ["ollama", "openai"])
def test_router_json_guarantee_holds_with_a_remote_prose_model(fake_registry, kind, tmp_path):
    """A background task routed to a remote prose model is decoded there under the task's schema
    (the upstream client once dropped the grammar)."""
    with LiveServer(fake_registry) as remote:
        local = Registry()
        local.add(served_upstream("prose", _spec(kind, remote)))
        local.add(ServedModel(name="gemmaiku", path=tmp_path / "none.gguf", engine=FakeEngine()))
        local.add(RouterModel(targets={"haiku": "gemmaiku:latest", "prose": "prose:latest"}))
        task = "### Task: title\nGenerate a title.\n<chat_history>\nUSER: rain\n</chat_history>"
        answer = TestClient(create_app(local)).post("/api/chat", json={
            "model": "gemmaiku-router", "stream": False, "messages": [{"role": "user", "content": task}]})
        assert answer.status_code == 200 and answer.json()["gemmaiku_route"]["route"] == "prose"
    seen = fake_registry.get("haiku").engine.seen[-1]
    assert seen["grammar"] is not None and seen["grammar"].json_format == TASK_OUTPUTS["title"].grammar.json_format
    assert seen["options"].temperature == TASK_OUTPUTS["title"].options["temperature"]
