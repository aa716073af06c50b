"""OpenAI wire format, with a fake engine."""

import json

import pytest
from fastapi.testclient import TestClient

from gemmaiku.serve import create_app
from tests.serve.conftest import FAKE_REPLY


@pytest.fixture
def client(fake_registry):
    return TestClient(create_app(fake_registry))


def sse_events(text: str) -> list:
    events = [block.removeprefix("data: ") for block in text.strip().split("\n\n")]
    assert events[-1] == "[DONE]"
    return [json.loads(event) for event in events[:-1]]


def test_models_lists_served_names(client):
    body = client.get("/v1/models").json()
    assert body["object"] == "list" and [m["id"] for m in body["data"]] == ["haiku:latest"]


def test_non_streaming_completion_has_usage(client):
    body = client.post("/v1/chat/completions", json={
        "model": "haiku", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}).json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": FAKE_REPLY}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


def test_streaming_sends_deltas_finish_and_done(client):
    response = client.post("/v1/chat/completions", json={
        "model": "haiku", "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi"}]})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text == FAKE_REPLY
    finishes = [e["choices"][0]["finish_reason"] for e in events if e["choices"]]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] > 0


def test_max_tokens_and_seed_reach_the_engine(client, fake_registry):
    body = client.post("/v1/chat/completions", json={
        "model": "haiku", "max_tokens": 2, "seed": 9, "stop": "x", "temperature": 0.1,
        "messages": [{"role": "user", "content": "hi"}]}).json()
    assert body["choices"][0]["finish_reason"] == "length"
    options = fake_registry.get("haiku").engine.seen[-1]["options"]
    assert (options.num_predict, options.seed, options.stop, options.temperature) == (2, 9, ["x"], 0.1)


def test_errors_use_openai_error_objects(client):
    missing = client.post("/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user", "content": "x"}]})
    assert missing.status_code == 404 and "not found" in missing.json()["error"]["message"]
    empty = client.post("/v1/chat/completions", json={"model": "haiku", "messages": []})
    assert empty.status_code == 400 and empty.json()["error"]["type"] == "invalid_request_error"
