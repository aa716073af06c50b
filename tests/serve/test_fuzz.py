"""Property-based fuzzing: random and malformed requests never produce a 5xx or kill the server."""

import json

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gemmaiku.serve import create_app

ENDPOINTS = [
    ("GET", "/"), ("HEAD", "/"), ("GET", "/api/version"), ("GET", "/api/tags"), ("GET", "/api/ps"),
    ("POST", "/api/show"), ("POST", "/api/chat"), ("POST", "/api/generate"), ("POST", "/api/create"),
    ("POST", "/api/copy"), ("DELETE", "/api/delete"), ("POST", "/api/pull"),
    ("GET", "/v1/models"), ("POST", "/v1/chat/completions"),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
names = st.sampled_from(["haiku", "haiku:latest", "nope", "", "../../etc", "a" * 300]) | st.text(max_size=20)
messages = st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "tool", "wizard", ""]) | json_values,
     "content": st.text(max_size=60) | json_values}), max_size=4)
options = st.dictionaries(
    st.sampled_from(["temperature", "top_k", "top_p", "num_predict", "seed", "stop", "num_ctx", "min_p", "bogus"]),
    json_values, max_size=4)
plausible = st.fixed_dictionaries({}, optional={
    "model": names | json_values, "name": names, "messages": messages | json_values,
    "prompt": st.text(max_size=60) | json_values, "stream": st.booleans() | json_values,
    "options": options | json_values, "system": st.text(max_size=30) | json_values, "raw": st.booleans(),
    "source": names, "destination": names, "from": names | json_values, "modelfile": st.text(max_size=80),
    "parameters": options, "max_tokens": json_values, "temperature": json_values, "stop": json_values,
    "tools": json_values, "template": st.text(max_size=40)})
bodies = (
    plausible.map(lambda d: json.dumps(d).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=200)
    | st.text(max_size=100).map(str.encode)
)


def test_random_requests_never_get_a_5xx(fake_registry):
    client = TestClient(create_app(fake_registry), raise_server_exceptions=False)
    sent = []

    @settings(max_examples=1200, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(endpoint=st.sampled_from(ENDPOINTS), body=bodies)
    def one_request(endpoint, body):
        method, path = endpoint
        response = client.request(method, path, content=body, headers={"content-type": "application/json"})
        sent.append(path)
        assert response.status_code < 500, (method, path, body, response.text)
        if response.status_code >= 400 and method != "HEAD":
            assert "error" in response.json()

    one_request()
    assert len(sent) >= 1000 and {path for _, path in ENDPOINTS} <= set(sent)
    assert client.get("/").text == "Ollama is running"


def test_server_still_answers_after_the_storm(fake_registry):
    client = TestClient(create_app(fake_registry), raise_server_exceptions=False)
    for index in range(200):
        client.post("/api/chat", content=bytes(range(index % 256)) * 3)
        client.post("/v1/chat/completions", json={"model": "haiku", "messages": [{"role": "user"}] * (index % 5)})
    assert client.get("/").text == "Ollama is running"
    reply = client.post("/api/chat", json={"model": "haiku", "stream": False,
                                           "messages": [{"role": "user", "content": "still there?"}]})
    assert reply.status_code == 200 and reply.json()["done"] is True
