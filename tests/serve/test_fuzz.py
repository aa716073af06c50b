"""Property-based fuzzing: random and malformed requests never produce a 5xx or kill the server.

The second generator is the hostile-client review's (tests/serve/test_hostile.py): lone
surrogates and NULs in every text, template and schema bombs, Modelfiles with instructions the
server cannot honour, out-of-range and mistyped values, any content type."""

import json

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gemmaiku.bench.hostile import DEEP_TEMPLATE, TEMPLATE_BOMB
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


# -- hostile generators ----------------------------------------------------------------------
nasty_text = st.lists(st.sampled_from(["\ud800", "\udfff", "\x00", "a", " ", "é", "\u2028", "{{", "}}"]),
                      max_size=6).map("".join) | st.text(max_size=20)
templates = st.sampled_from([TEMPLATE_BOMB, DEEP_TEMPLATE, "{{ .Prompt", '{{ printf "%2000000d" 1 }}',
                             "{{ range 1000000 }}{{ end }}", '{{ $x := "ab" }}{{ range 40 }}{{ $x = print $x $x }}{{ end }}',
                             "(" * 2000, "{{ .Prompt }}"]) | nasty_text
formats = st.sampled_from([
    {"type": "array", "items": {"type": "integer"}, "minItems": 2_000_000}, {"type": "array", "maxItems": 10**6},
    {"type": "string", "pattern": "a{100000}"}, {"type": "string", "maxLength": 10**12}, "json", "xml", {},
    {"type": "object", "properties": {"a": {"type": "string"}}}, json.loads('{"items":' * 90 + "{}" + "}" * 90),
]) | json_values
modelfiles = st.sampled_from([
    "FROM haiku\nADAPTER lora.gguf\n", "FROM haiku\nDRAFT small.gguf\n", "FROM haiku\nTEMPLATE {{ .Prompt\n",
    "FROM tiny\x00.gguf\n", "FROM haiku\n" + "MESSAGE user hi\n" * 20_000, "FROM haiku\nSYSTEM \ud800\n",
    f'FROM haiku\nTEMPLATE """{DEEP_TEMPLATE}"""\n',
]) | nasty_text
hostile_messages = st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant"]), "content": nasty_text},
    optional={"images": st.sampled_from([[], ["aGk="], None])}), max_size=3)
hostile = st.fixed_dictionaries({"model": st.sampled_from(["haiku", "haiku\x00", "\ud800"]) | nasty_text}, optional={
    "messages": hostile_messages, "prompt": nasty_text, "system": nasty_text, "template": templates,
    "format": formats, "response_format": st.fixed_dictionaries({"type": st.just("json_schema"), "json_schema":
                                                                 st.fixed_dictionaries({"schema": formats})}),
    "modelfile": modelfiles, "from": nasty_text | st.sampled_from(["haiku", "tiny.gguf"]),
    "stream": st.sampled_from([True, False, "yes", 1, None]), "raw": st.sampled_from([True, "yes"]),
    "options": st.dictionaries(st.sampled_from(["num_predict", "temperature", "stop", "\ud800", "clé"]),
                               st.sampled_from([True, -1, 0, 3, 1e300, "3", None, ["\ud800"]]), max_size=3),
    "max_tokens": st.sampled_from([-1, 0, 1, True, 2**70, "5"]), "n": st.sampled_from([1, 2, True]),
    "keep_alive": st.sampled_from([0, "0s", "5m", -1, "forever", True, "1h30m"]),
    "tools": st.sampled_from([[], [{"type": "function", "function": {"name": "f"}}]]),
    "tool_choice": st.sampled_from(["auto", "required", {"type": "function"}]), "think": st.booleans(),
    "adapters": st.sampled_from([{}, {"a.gguf": "sha256:0"}]), "destination": nasty_text, "source": nasty_text,
})
content_types = st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", None])


def test_hostile_requests_never_get_a_5xx(fake_registry):
    client = TestClient(create_app(fake_registry), raise_server_exceptions=False)
    sent = []

    @settings(max_examples=600, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(endpoint=st.sampled_from([e for e in ENDPOINTS if e[0] != "GET"]), body=hostile,
           content_type=content_types)
    def one_request(endpoint, body, content_type):
        method, path = endpoint
        headers = {"content-type": content_type} if content_type else {}
        response = client.request(method, path, content=json.dumps(body).encode(), headers=headers)
        sent.append(response.status_code)
        assert response.status_code < 500, (method, path, body, response.text)
        if response.status_code >= 400 and method != "HEAD":
            assert "error" in response.json()

    one_request()
    assert len(sent) >= 500 and 400 in sent and 200 in sent
    assert client.get("/api/tags").status_code == 200
