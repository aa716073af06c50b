"""Ollama wire format, with a fake engine: what clients parse, line by line."""

import json

import pytest
from fastapi.testclient import TestClient

from gemmaiku.serve import ServeSettings, create_app
from tests.serve.conftest import FAKE_REPLY

FINAL_KEYS = {"done_reason", "total_duration", "load_duration", "prompt_eval_count",
              "prompt_eval_duration", "eval_count", "eval_duration"}


@pytest.fixture
def client(fake_registry):
    return TestClient(create_app(fake_registry))


def ndjson_lines(response) -> list[dict]:
    raw = response.text
    assert raw.endswith("\n") and "\n\n" not in raw, "one JSON object per line, no blank lines"
    return [json.loads(line) for line in raw.splitlines()]


def test_root_and_version_answer_like_ollama(client):
    assert client.get("/").text == "Ollama is running"
    assert client.head("/").status_code == 200
    version = client.get("/api/version").json()["version"]
    assert all(part.isdigit() for part in version.split("."))


def test_tags_rows_have_name_model_and_details(client):
    (row,) = client.get("/api/tags").json()["models"]
    assert row["name"] == row["model"] == "haiku:latest"
    assert row["details"]["family"] == "gemma3" and row["details"]["quantization_level"] == "F16"
    assert len(row["digest"]) == 64 and row["size"] > 0


def test_chat_streams_ndjson_with_final_metrics(client):
    response = client.post("/api/chat", json={"model": "haiku", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    lines = ndjson_lines(response)
    assert all(line["done"] is False for line in lines[:-1]) and lines[-1]["done"] is True
    assert "".join(line["message"]["content"] for line in lines) == FAKE_REPLY
    assert lines[-1].keys() >= FINAL_KEYS and lines[-1]["done_reason"] == "stop"
    assert lines[-1]["eval_count"] == len(FAKE_REPLY.split(" "))


def test_chat_without_stream_returns_one_object(client):
    body = client.post("/api/chat", json={"model": "haiku:latest", "stream": False,
                                          "messages": [{"role": "user", "content": "hi"}]}).json()
    assert body["message"] == {"role": "assistant", "content": FAKE_REPLY}
    assert body["done"] is True and body.keys() >= FINAL_KEYS


def test_modelfile_system_is_used_unless_the_client_sends_one(client, fake_registry):
    engine = fake_registry.get("haiku").engine
    client.post("/api/chat", json={"model": "haiku", "stream": False, "messages": [{"role": "user", "content": "a"}]})
    assert engine.seen[-1]["messages"][0] == {"role": "system", "content": "Answer in haiku."}
    client.post("/api/chat", json={"model": "haiku", "stream": False, "messages": [
        {"role": "system", "content": "Mine."}, {"role": "user", "content": "b"}]})
    assert engine.seen[-1]["messages"][0] == {"role": "system", "content": "Mine."}
    assert [m["role"] for m in engine.seen[-1]["messages"]] == ["system", "user"]


def test_request_options_override_modelfile_parameters(client, fake_registry):
    engine = fake_registry.get("haiku").engine
    client.post("/api/chat", json={"model": "haiku", "stream": False, "options": {"num_predict": 2, "seed": 3},
                                   "messages": [{"role": "user", "content": "a"}]})
    options = engine.seen[-1]["options"]
    assert options.num_predict == 2 and options.seed == 3
    assert options.temperature == 0.8  # engine defaults; the Modelfile's 0.6 lives in the engine options


def test_tools_and_unknown_fields_are_ignored(client):
    tools = [{"type": "function", "function": {"name": "search", "parameters": {}}}] * 36
    response = client.post("/api/chat", json={"model": "haiku", "stream": False, "tools": tools, "think": False,
                                              "messages": [{"role": "user", "content": "hi", "images": []}]})
    assert response.status_code == 200


def test_generate_streams_response_field(client):
    lines = ndjson_lines(client.post("/api/generate", json={"model": "haiku", "prompt": "hi"}))
    assert "".join(line["response"] for line in lines) == FAKE_REPLY and lines[-1]["done"]


def test_empty_generate_loads_the_model(client, fake_registry):
    body = client.post("/api/generate", json={"model": "haiku"}).json()
    assert body["done"] is True and body["done_reason"] == "load"
    assert fake_registry.get("haiku").engine.loaded
    assert [row["name"] for row in client.get("/api/ps").json()["models"]] == ["haiku:latest"]


def test_show_has_model_info_and_parameters(client):
    body = client.post("/api/show", json={"model": "haiku"}).json()
    assert body["model_info"]["general.architecture"] == "gemma3"
    assert "temperature 0.6" in body["parameters"] and 'stop "<end_of_turn>"' in body["parameters"]
    assert body["system"] == "Answer in haiku." and body["modelfile"].startswith("FROM ")


def test_copy_create_delete_round_trip(client, tmp_path):
    assert client.post("/api/copy", json={"source": "haiku", "destination": "haiku2"}).status_code == 200
    created = client.post("/api/create", json={"model": "poet", "from": "haiku", "system": "Be a poet.",
                                               "stream": False})
    assert created.json() == {"status": "success"}
    names = {row["name"] for row in client.get("/api/tags").json()["models"]}
    assert names == {"haiku:latest", "haiku2:latest", "poet:latest"}
    assert client.post("/api/show", json={"model": "poet"}).json()["system"] == "Be a poet."
    assert client.request("DELETE", "/api/delete", json={"model": "haiku2"}).status_code == 200
    assert client.request("DELETE", "/api/delete", json={"model": "haiku2"}).status_code == 404


def test_create_from_a_path_outside_model_folders_is_refused(client):
    response = client.post("/api/create", json={"model": "x", "from": "/etc/passwd", "stream": False})
    assert response.status_code == 400 and "outside the server's model folders" in response.json()["error"]


@pytest.mark.parametrize("path,body,status", [
    ("/api/chat", {"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 404),
    ("/api/generate", {"model": "nope", "prompt": "x"}, 404),
    ("/api/show", {"model": "nope"}, 404),
    ("/api/chat", {"messages": []}, 400),
    ("/api/chat", {"model": "haiku", "messages": [{"role": "wizard", "content": "x"}]}, 400),
    ("/api/chat", {"model": "haiku", "messages": "hi"}, 400),
    ("/api/chat", {"model": "haiku", "options": {"temperature": -4}, "messages": [{"role": "user", "content": "x"}]}, 400),
])
def test_errors_have_status_and_error_body(client, path, body, status):
    response = client.post(path, json=body)
    assert response.status_code == status
    assert isinstance(response.json()["error"], str) and response.json()["error"]


def test_malformed_json_is_400(client):
    response = client.post("/api/chat", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "JSON" in response.json()["error"]


def test_body_over_the_limit_is_413(fake_registry):
    client = TestClient(create_app(fake_registry, ServeSettings(max_body_bytes=1000)))
    response = client.post("/api/chat", json={"model": "haiku", "messages": [{"role": "user", "content": "x" * 5000}]})
    assert response.status_code == 413


def test_api_key_is_required_when_set(fake_registry):
    client = TestClient(create_app(fake_registry, ServeSettings(api_key="s3cret")))
    assert client.get("/").status_code == 200
    assert client.get("/api/tags").status_code == 401
    assert client.get("/v1/models").status_code == 401
    assert client.get("/api/tags", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_format_json_and_schemas_become_grammars(client, fake_registry):
    engine = fake_registry.get("haiku").engine
    message = [{"role": "user", "content": "hi"}]
    client.post("/api/chat", json={"model": "haiku", "stream": False, "format": "json", "messages": message})
    assert "root" in engine.seen[-1]["grammar"] and "object" in engine.seen[-1]["grammar"]
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    client.post("/api/chat", json={"model": "haiku", "stream": False, "format": schema, "messages": message})
    assert "title" in engine.seen[-1]["grammar"]
    client.post("/v1/chat/completions", json={"model": "haiku", "response_format": {"type": "json_object"},
                                              "messages": message})
    assert "root" in engine.seen[-1]["grammar"]
    client.post("/api/chat", json={"model": "haiku", "stream": False, "messages": message})
    assert engine.seen[-1]["grammar"] is None


def test_unsupported_format_is_400(client):
    response = client.post("/api/chat", json={"model": "haiku", "format": "xml",
                                              "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 400 and "format" in response.json()["error"]
