"""Hostile clients: each finding of the server's attack review, reproduced on a live server
(loopback, port 0, fake models) and answered as it must be: the status code, /api/version still
answering while the hostile request runs (a liveness bound, not a benchmark), and requests in
flight, open generations and RSS back to their baseline afterwards.

The findings (numbers as in the review): 1 a template that froze every endpoint; 2 a damaged GGUF
accepted by /api/create that then broke /api/tags; 3 abandoned requests that kept generating;
4 client input that gave 500 and leaked internals; 5 a 68-byte format that built a 36 MB
grammar; 6 the documented curl example refused; 7 loads and parses in the event loop, no cap on
loaded models; 8 a chunked body over the limit answered 400; 9 fields silently ignored;
10 no timeout for slow request headers.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gemmaiku.bench.hostile import (
    DEEP_TEMPLATE,
    TEMPLATE_BOMB,
    attacks,
    chunked_over,
    connect,
    damaged_ggufs,
    encoded,
    half_sent_headers,
    request_bytes,
    rss_mb,
    send,
    status_of,
)
from gemmaiku.serve import Registry, RouteDecision, ServeSettings
from gemmaiku.serve.limits import Limits
from gemmaiku.serve.registry import ServedModel
from tests.serve.conftest import FakeEngine, LiveServer, SlowEngine, tokenize, write_tiny_gguf

GENEROUS_S = 30.0  # how long anything here may take before it counts as frozen
USER = [{"role": "user", "content": "hi"}]
MAX_BODY = 1024 * 1024
LIMITS = Limits(header_timeout_s=0.5, body_timeout_s=1.0, max_loaded=2, max_queue=1)


@dataclass
class FakeRouter:
    """A virtual model that reads the conversation (as the real router does) and picks haiku."""

    name: str = "router"
    family: str = "router"

    def choose(self, messages):
        tokenize(messages, None)
        return RouteDecision(target="haiku:latest", route="haiku", confidence=1.0)


@dataclass
class Stack:
    url: str
    app: Any
    registry: Registry
    folder: Path
    gguf: Path

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
        return httpx.post(self.url + path, content=encoded(body), headers=headers, timeout=GENEROUS_S, **kwargs)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=GENEROUS_S)

    def engine(self, name: str) -> Any:
        return self.registry.get_served(name).engine

    def counts(self) -> dict[str, int]:
        return self.app.state.admission.counts()

    def settle(self) -> None:
        """Wait until nothing is in flight and no fake generation is open."""
        engines = [model.engine for _, model in self.registry.items() if isinstance(model, ServedModel)]
        assert wait_until(lambda: self.counts()["in_flight"] == 0
                          and all(getattr(e, "open_streams", 0) == 0 for e in engines)), self.counts()


def wait_until(condition: Callable[[], bool], timeout: float = GENEROUS_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def stack(tmp_path: Path):
    folder = tmp_path / "models"
    folder.mkdir()
    gguf = write_tiny_gguf(folder / "tiny.gguf")
    registry = Registry([folder])
    engines = {"haiku": FakeEngine(), "slow": SlowEngine(), "beat": SlowEngine(heartbeat=True),
               "broken": SlowEngine(fail_with=RuntimeError("secret: /etc/shadow is mode 0640"))}
    for name, engine in engines.items():
        registry.add(ServedModel(name=name, path=gguf, engine=engine))
    registry.add(FakeRouter())
    settings = ServeSettings(max_body_bytes=MAX_BODY, limits=LIMITS)
    server = LiveServer(registry, settings)
    with server as url:
        yield Stack(url, server.app, registry, folder, gguf)


def chat(model: str = "haiku", **extra: Any) -> dict[str, Any]:
    return {"model": model, "stream": False, "messages": USER} | extra


# -- 1, 5, 7: nothing blocks the event loop ---------------------------------------------------------
def test_1_template_bombs_are_refused_naming_the_limit(stack):
    for template in (TEMPLATE_BOMB, "{{range 100000}}{{range 100000}}{{end}}{{end}}"):
        response = stack.post("/api/generate", {"model": "haiku", "prompt": "hi", "stream": False,
                                                "template": template})
        assert response.status_code == 400
        assert "limit of 100000 range iterations" in response.json()["error"]
    fine = stack.post("/api/generate", {"model": "haiku", "prompt": "hi", "stream": False,
                                        "template": "<{{ .Prompt }}>"})
    assert fine.status_code == 200 and stack.engine("haiku").seen[-1]["prompt"] == "<hi>"


def gate(monkeypatch, target: Any, name: str) -> tuple[threading.Event, threading.Event]:
    """Make ``target.name`` wait for a release (the first call), telling when it is entered."""
    entered, release = threading.Event(), threading.Event()
    original = getattr(target, name)

    def gated(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(timeout=60)
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, gated)
    return entered, release


def schema_chat(stack: Stack) -> httpx.Response:
    return stack.post("/api/chat", chat(format={"type": "object", "properties": {"a": {"type": "string"}}}))


def modelfile_create(stack: Stack) -> httpx.Response:
    return stack.post("/api/create", {"model": "made", "modelfile": f"FROM {stack.gguf}\n", "stream": False})


def gguf_create(stack: Stack) -> httpx.Response:
    return stack.post("/api/create", {"model": "made", "from": str(stack.gguf), "stream": False})


def template_generate(stack: Stack) -> httpx.Response:
    return stack.post("/api/generate", {"model": "haiku", "prompt": "hi", "stream": False,
                                        "template": "{{ .Prompt }}"})


def chat_request(stack: Stack) -> httpx.Response:
    return stack.post("/api/chat", chat())


def target(dotted: str) -> Any:
    import importlib

    module, _, attribute = dotted.partition(":")
    found = importlib.import_module(module)
    return getattr(found, attribute) if attribute else found


# What once ran in the event loop: (the module[:class] holding the work, its name, a request).
BLOCKING_WORK = {
    "template render": ("gemmaiku.modelfile.gotemplate", "_walk", template_generate),
    "grammar build": ("llama_cpp.llama_grammar", "json_schema_to_gbnf", schema_chat),
    "Modelfile parse": ("gemmaiku.modelfile", "parse_modelfile", modelfile_create),
    "GGUF header read": ("gemmaiku.base.gguf_io:GGUFFile", "_parse", gguf_create),
    "JSON body parse": ("gemmaiku.serve.door", "parse_body", chat_request),
}


@pytest.mark.parametrize("work", sorted(BLOCKING_WORK))
def test_1_5_7_version_answers_while_blocking_work_runs(stack, monkeypatch, work):
    where, name, request = BLOCKING_WORK[work]
    entered, release = gate(monkeypatch, target(where), name)
    assert_live_while(stack, lambda: request(stack), entered, release)


def test_7_version_answers_while_a_model_loads(stack):
    slow_load = SlowEngine(tokens=3, gate=threading.Event())
    stack.registry.add(ServedModel(name="heavy", path=stack.gguf, engine=slow_load))
    entered = threading.Event()
    original = slow_load.load

    def load() -> float:
        entered.set()
        return original()

    slow_load.load = load  # type: ignore[method-assign]
    assert_live_while(stack, lambda: stack.post("/api/chat", chat("heavy")), entered, slow_load.gate)
    assert stack.post("/api/generate", {"model": "heavy"}).json()["done_reason"] == "load"


def assert_live_while(stack: Stack, hostile: Callable[[], httpx.Response], entered: threading.Event,
                      release: threading.Event) -> None:
    result: dict[str, httpx.Response] = {}
    thread = threading.Thread(target=lambda: result.update(response=hostile()))
    thread.start()
    try:
        assert entered.wait(GENEROUS_S), "the request never reached the work under test"
        assert stack.get("/api/version").status_code == 200
        assert stack.get("/").text == "Ollama is running"
        assert thread.is_alive(), "the hostile request finished before /api/version was asked"
    finally:
        release.set()
        thread.join(GENEROUS_S)
    assert result["response"].status_code == 200, result["response"].text


# -- 2: validate at the door ---------------------------------------------------------------------
def test_2_damaged_ggufs_are_refused_at_create_and_tags_keeps_answering(stack):
    for kind, path in damaged_ggufs(stack.folder).items():
        for body in ({"model": f"bad-{kind}", "from": str(path), "stream": False},
                     {"model": f"bad-{kind}", "modelfile": f"FROM {path}\n", "stream": False}):
            response = stack.post("/api/create", body)
            assert response.status_code == 400, (kind, response.text)
            assert response.json()["error"], kind
    tags = stack.get("/api/tags")
    assert tags.status_code == 200
    assert not any(row["name"].startswith("bad-") for row in tags.json()["models"])
    assert stack.post("/api/show", {"model": "haiku"}).status_code == 200


def test_2_a_model_damaged_after_create_is_listed_as_unreadable(stack):
    later = stack.folder / "later.gguf"
    shutil.copy(stack.gguf, later)
    assert stack.post("/api/create", {"model": "later", "from": str(later), "stream": False}).status_code == 200
    later.write_bytes(b"GGUF" + b"\xff" * 64)
    tags = stack.get("/api/tags")
    assert tags.status_code == 200
    rows = {row["name"]: row for row in tags.json()["models"]}
    assert rows["later:latest"]["details"]["family"] == "unreadable"
    assert rows["haiku:latest"]["details"]["family"] == "gemma3"
    assert stack.post("/api/show", {"model": "later"}).status_code == 400
    later.unlink()  # and gone altogether
    assert stack.get("/api/tags").status_code == 200
    assert stack.post("/api/show", {"model": "later"}).status_code == 400


# -- 3: cancellation everywhere ------------------------------------------------------------------
ABANDONED = [
    ("/api/chat", chat("MODEL")),
    ("/api/chat", chat("MODEL", stream=True)),
    ("/api/generate", {"model": "MODEL", "prompt": "hi", "stream": False}),
    ("/v1/chat/completions", {"model": "MODEL", "messages": USER}),
    ("/v1/chat/completions", {"model": "MODEL", "messages": USER, "stream": True}),
]


@pytest.mark.parametrize("model", ["slow", "beat"])
@pytest.mark.parametrize("path,body", ABANDONED, ids=[f"{p} stream={b.get('stream')}" for p, b in ABANDONED])
def test_3_a_client_that_leaves_stops_its_generation(stack, model, path, body):
    """``beat`` sends nothing but empty chunks until its reply is whole, as guarded and search
    decoding do: the server must stop it too, streamed or not."""
    engine = stack.engine(model)
    body = json.loads(json.dumps(body).replace("MODEL", model))
    with connect(stack.url) as sock:
        sock.sendall(request_bytes("POST", path, json.dumps(body).encode()))
        assert engine.started.wait(GENEROUS_S)
    assert engine.closed.wait(GENEROUS_S), "the generation went on after the client left"
    assert engine.produced < engine.tokens, "the whole reply was generated for nobody"
    stack.settle()
    again = stack.post(path, body | {"stream": False, "options": {"num_predict": 3}, "max_tokens": 3})
    assert again.status_code == 200, again.text


# -- 4: one error path ---------------------------------------------------------------------------
SURROGATES = [
    ("/api/chat", chat(messages=[{"role": "user", "content": "\ud800"}])),
    ("/api/chat", chat(messages=[{"role": "system", "content": "x\udfffy"}, *USER])),
    ("/api/generate", {"model": "haiku", "prompt": "\ud800", "stream": False}),
    ("/api/generate", {"model": "haiku", "prompt": "hi", "system": "\ud800", "stream": False}),
    ("/api/generate", {"model": "haiku", "prompt": "hi", "template": "{{ .Prompt }}\ud800", "stream": False}),
    ("/api/create", {"model": "made", "from": "haiku", "system": "\ud800", "stream": False}),
    ("/api/create", {"model": "made", "modelfile": "FROM haiku\nSYSTEM \ud800\n", "stream": False}),
    ("/v1/chat/completions", {"model": "haiku", "messages": [{"role": "user", "content": "\ud800"}]}),
    ("/api/chat", chat("router", messages=[{"role": "user", "content": "\ud800"}])),
    ("/api/chat", chat("\ud800")),
    ("/api/chat", chat(options={"\ud800": 1})),
]


@pytest.mark.parametrize("path,body", SURROGATES)
def test_4_a_lone_surrogate_anywhere_is_a_400(stack, path, body):
    response = stack.post(path, body)
    assert response.status_code == 400, response.text
    assert "lone surrogate" in response.text


@pytest.mark.parametrize("body", [
    {"model": "made", "from": "tiny\x00.gguf", "stream": False},
    {"model": "made\x00", "from": "haiku", "stream": False},
    {"model": "made", "modelfile": "FROM tiny\x00.gguf\n", "stream": False},
])
def test_4_nul_bytes_in_names_and_paths_are_a_400(stack, body):
    assert stack.post("/api/create", body).status_code == 400


def test_4_a_non_ascii_api_key_is_a_401(stack):
    settings = ServeSettings(api_key="s3cret", limits=LIMITS)
    with LiveServer(stack.registry, settings) as url:
        for key in ("Bearer \xe9t\xe9".encode("latin-1"), "Bearer ключ".encode(), b"Bearer s3cre\xff"):
            with connect(url) as sock:
                sock.sendall(b"GET /api/tags HTTP/1.1\r\nHost: x\r\nAuthorization: " + key + b"\r\n\r\n")
                assert status_of(sock) == 401
        assert httpx.get(url + "/api/tags", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_4_a_template_nested_300_deep_is_a_400_at_create_and_later_chats_work(stack):
    response = stack.post("/api/create", {"model": "deep", "from": "haiku", "template": DEEP_TEMPLATE,
                                          "stream": False})
    assert response.status_code == 400 and "nested deeper than 50" in response.json()["error"]
    generate = stack.post("/api/generate", {"model": "haiku", "prompt": "hi", "stream": False,
                                            "template": DEEP_TEMPLATE})
    assert generate.status_code == 400
    assert stack.post("/api/chat", chat()).status_code == 200


def test_4_an_internal_error_is_a_500_with_an_id_logged_once(stack, caplog):
    caplog.set_level(logging.INFO, logger="gemmaiku.serve")
    response = stack.post("/api/chat", chat("broken"))
    assert response.status_code == 500
    message = response.json()["error"]
    assert message.startswith("internal error (id ") and "secret" not in response.text
    error_id = message.split("id ")[1].split(";")[0]
    records = [r for r in caplog.records if error_id in r.getMessage()]
    assert len(records) == 1 and records[0].levelno == logging.ERROR
    assert "\n" not in records[0].getMessage() and records[0].exc_info is None
    assert "RuntimeError" in records[0].getMessage()
    openai = stack.post("/v1/chat/completions", {"model": "broken", "messages": USER})
    assert openai.status_code == 500 and openai.json()["error"]["type"] == "server_error"
    assert "secret" not in openai.text


def test_4_an_error_mid_stream_ends_the_stream_with_an_error_line(stack):
    engine = SlowEngine(tokens=5, fail_with=None)
    stack.registry.add(ServedModel(name="flaky", path=stack.gguf, engine=engine))
    original = engine.stream

    def flaky(*args: Any, **kwargs: Any):
        stream = original(*args, **kwargs)
        yield next(stream)
        stream.close()
        raise RuntimeError("secret mid-stream")

    engine.stream = flaky  # type: ignore[method-assign]
    lines = stack.post("/api/chat", chat("flaky", stream=True)).text.splitlines()
    assert json.loads(lines[0])["done"] is False
    last = json.loads(lines[-1])
    assert last["error"].startswith("internal error (id ") and "secret" not in last["error"]


# -- 5: grammar budgets --------------------------------------------------------------------------
@pytest.mark.parametrize("schema,named", [
    ({"type": "array", "items": {"type": "integer"}, "minItems": 2_000_000}, "minItems is 2000000"),
    ({"type": "array", "maxItems": 100_000}, "maxItems is 100000"),
    ({"type": "string", "pattern": "a{100000}"}, "pattern repeats {100000}"),
    ({"type": "string", "maxLength": 10**9}, "maxLength"),
    ({"enum": ["x" * 100] * 400}, "schema is"),
    (json.loads('{"items":' * 100 + "{}" + "}" * 100), "nests deeper than 64"),
])
def test_5_format_schemas_over_budget_are_a_400_naming_the_limit(stack, schema, named):
    ollama = stack.post("/api/chat", chat(format=schema))
    assert ollama.status_code == 400 and named in ollama.json()["error"], ollama.text
    openai = stack.post("/v1/chat/completions", {"model": "haiku", "messages": USER, "response_format": {
        "type": "json_schema", "json_schema": {"name": "x", "schema": schema}}})
    assert openai.status_code == 400 and named in openai.json()["error"]["message"]


def test_5_schema_bombs_do_not_grow_memory(stack):
    bomb = chat(format={"type": "array", "items": {"type": "integer"}, "minItems": 2_000_000})
    stack.post("/api/chat", bomb)
    before = rss_mb()
    for _ in range(20):
        assert stack.post("/api/chat", bomb).status_code == 400
    assert rss_mb() - before < 50, "each refused schema still cost memory"
    reasonable = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 8}
    assert stack.post("/api/chat", chat(format=reasonable)).status_code == 200


# -- 6: JSON bodies whatever the content type ----------------------------------------------------
@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
def test_6_json_is_read_without_a_json_content_type(stack, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(stack.url + "/api/chat", content=json.dumps(chat()).encode(), headers=headers)
    assert response.status_code == 200 and response.json()["done"] is True


# -- 7: loaded models, queues, Modelfile size ----------------------------------------------------
def test_7_loaded_models_are_capped_least_recently_used_first(stack):
    short = {"options": {"num_predict": 2}}
    for name in ("haiku", "slow", "beat"):
        assert stack.post("/api/chat", chat(name) | short).status_code == 200
    assert not stack.engine("haiku").loaded, "the least recently used model stayed loaded"
    assert stack.engine("slow").loaded and stack.engine("beat").loaded
    assert stack.post("/api/chat", chat("haiku") | short).status_code == 200
    assert not stack.engine("slow").loaded and stack.engine("haiku").loaded
    assert stack.counts() == {"in_flight": 0, "loaded": 2}
    ps = {row["name"] for row in stack.get("/api/ps").json()["models"]}
    assert ps == {"haiku:latest", "beat:latest"}


def test_7_keep_alive_zero_unloads_and_bad_keep_alive_is_a_400(stack):
    assert stack.post("/api/chat", chat(keep_alive=0)).status_code == 200
    assert wait_until(lambda: not stack.engine("haiku").loaded)
    assert stack.post("/api/generate", {"model": "haiku"}).json()["done_reason"] == "load"
    assert stack.post("/api/generate", {"model": "haiku", "keep_alive": "0s"}).json()["done_reason"] == "unload"
    assert not stack.engine("haiku").loaded
    assert stack.post("/api/chat", chat(keep_alive="5m")).status_code == 200
    bad = stack.post("/api/chat", chat(keep_alive="forever"))
    assert bad.status_code == 400 and "keep_alive" in bad.json()["error"]


def test_7_a_full_queue_is_a_503(stack):
    slow_load = SlowEngine(tokens=3, gate=threading.Event())
    stack.registry.add(ServedModel(name="heavy", path=stack.gguf, engine=slow_load))
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(stack.post("/api/chat", chat("heavy")).status_code))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        assert wait_until(lambda: stack.counts()["in_flight"] == 2)
        busy = stack.post("/api/chat", chat("heavy"))
        assert busy.status_code == 503 and "busy" in busy.json()["error"]
        assert stack.post("/api/chat", chat("haiku")).status_code == 200  # other models are not held up
    finally:
        slow_load.gate.set()
        for thread in threads:
            thread.join(GENEROUS_S)
    assert results == [200, 200]
    stack.settle()


def test_7_a_modelfile_over_the_size_limit_is_a_400(stack):
    text = f"FROM {stack.gguf}\n" + "MESSAGE user hi\n" * 20_000
    response = stack.post("/api/create", {"model": "big", "modelfile": text, "stream": False})
    assert response.status_code == 400 and "over the limit of 262144" in response.json()["error"]


# -- 8: 413 however the body arrives -------------------------------------------------------------
def test_8_bodies_over_the_limit_are_a_413_chunked_or_declared(stack):
    assert chunked_over(stack.url, MAX_BODY) in (413, 0)
    with connect(stack.url) as sock:
        sock.sendall(request_bytes("POST", "/api/chat", b"")[:-4].replace(
            b"Content-Length: 0", f"Content-Length: {MAX_BODY + 1}".encode()) + b"\r\n\r\n")
        assert status_of(sock) == 413
    def chunks():
        yield b" " * (MAX_BODY + 10)
    assert httpx.post(stack.url + "/v1/chat/completions", content=chunks()).status_code == 413
    assert stack.post("/api/chat", chat()).status_code == 200


# -- 9: nothing silently dropped -----------------------------------------------------------------
def refused(stack: Stack) -> list[tuple[str, dict[str, Any], str]]:
    tool = [{"type": "function", "function": {"name": "search", "parameters": {}}}]
    return [
        ("/api/create", {"model": "a", "modelfile": f"FROM {stack.gguf}\nADAPTER {stack.gguf}\n"}, "ADAPTER"),
        ("/api/create", {"model": "a", "modelfile": f"FROM {stack.gguf}\nDRAFT {stack.gguf}\n"}, "DRAFT"),
        ("/api/create", {"model": "a", "from": "haiku", "adapters": {"l.gguf": "sha256:0"}}, "adapters"),
        ("/api/create", {"model": "a", "from": "haiku", "quantize": "q4_K_M"}, "quantize"),
        ("/api/create", {"model": "a", "from": "haiku", "template": "{{ if }}"}, "TEMPLATE"),
        ("/api/create", {"model": "a", "modelfile": f'FROM {stack.gguf}\nTEMPLATE """{{{{ .Prompt"""\n'}, "TEMPLATE"),
        ("/api/create", {"model": "a", "from": "haiku", "template": "{{ .Nope.Deeper }}"}, "TEMPLATE"),
        ("/api/chat", chat(messages=[{"role": "user", "content": "hi", "images": ["aGk="]}]), "images"),
        ("/api/generate", {"model": "haiku", "prompt": "hi", "images": ["aGk="]}, "images"),
        ("/v1/chat/completions", {"model": "haiku", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is it?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}]}]}, "images"),
        ("/v1/chat/completions", {"model": "haiku", "messages": USER, "max_tokens": -1}, "max_tokens"),
        ("/v1/chat/completions", {"model": "haiku", "messages": USER, "max_tokens": 0}, "max_tokens"),
        ("/v1/chat/completions", {"model": "haiku", "messages": USER, "max_completion_tokens": 0},
         "max_completion_tokens"),
        ("/v1/chat/completions", {"model": "haiku", "messages": USER, "n": 2}, "n:"),
        ("/v1/chat/completions", {"model": "haiku", "messages": USER, "tools": tool, "tool_choice": "required"},
         "tool_choice"),
        ("/v1/chat/completions", {"model": "haiku", "messages": USER, "stream": "yes"}, "stream"),
        ("/api/chat", chat(stream="yes"), "stream"),
        ("/api/chat", chat(options={"num_predict": True}), "num_predict"),
        ("/api/chat", chat(think=True), "think"),
        ("/api/generate", {"model": "haiku", "prompt": "hi", "suffix": "end"}, "suffix"),
        ("/api/generate", {"model": "haiku", "prompt": "hi", "raw": "yes"}, "raw"),
        ("/api/copy", {"source": "haiku", "destination": "bad name!"}, "destination"),
    ]


def test_9_what_the_server_cannot_honour_is_a_400_naming_it(stack):
    for path, body, named in refused(stack):
        response = stack.post(path, body | ({"stream": False} if path == "/api/create" else {}))
        assert response.status_code == 400, (path, body, response.text)
        assert named in response.text, (named, response.text)
    assert not any(row["name"].startswith("a:") for row in stack.get("/api/tags").json()["models"])


def test_9_offered_tools_are_answered_without_them_and_said_so(stack):
    tool = [{"type": "function", "function": {"name": "search", "parameters": {}}}]
    ollama = stack.post("/api/chat", chat(tools=tool))
    openai = stack.post("/v1/chat/completions", {"model": "haiku", "messages": USER, "tools": tool,
                                                 "tool_choice": "auto"})
    for response in (ollama, openai):
        assert response.status_code == 200
        assert "cannot call tools (1 ignored)" in response.headers["x-gemmaiku-tools"]
    assert "x-gemmaiku-tools" not in stack.post("/api/chat", chat()).headers


# -- 10: slow requests ---------------------------------------------------------------------------
def test_10_half_sent_headers_are_closed_after_the_header_timeout(stack):
    assert half_sent_headers(stack.url)
    with connect(stack.url) as sock:  # and on a kept-alive connection, after a first reply
        sock.sendall(request_bytes("GET", "/api/version", b""))
        assert status_of(sock) == 200
        sock.sendall(b"GET /api/version HTTP/1.1\r\nHo")
        assert drained(sock)


def drained(sock: socket.socket) -> bool:
    while True:
        data = sock.recv(4096)
        if not data:
            return True


def test_10_a_body_that_stops_arriving_is_a_408(stack):
    with connect(stack.url) as sock:
        sock.sendall(request_bytes("POST", "/api/chat", b"{" * 100)[:-90])
        assert status_of(sock) == 408


# -- the whole table, several times: everything back to its baseline -----------------------------
def test_storm_of_hostile_requests_leaves_the_server_as_it_was(stack):
    table = attacks("haiku", stack.folder)
    with httpx.Client(base_url=stack.url, timeout=GENEROUS_S) as client:
        for attack in table:  # warm up: first imports, first loads
            send(client, attack)
        before = rss_mb()
        statuses = []
        for _ in range(3):
            for attack in table:
                status = send(client, attack)
                statuses.append(status)
                assert status == attack.expect, (attack.name, status)
    stack.settle()
    assert 500 not in statuses and len(statuses) == 3 * len(table)
    assert rss_mb() - before < 64
    assert stack.counts()["in_flight"] == 0 and stack.counts()["loaded"] <= LIMITS.max_loaded


def test_9_a_modelfile_given_to_serve_with_adapter_is_refused(tmp_path):
    from gemmaiku.errors import GemmaikuError
    from gemmaiku.serve.registry import served_from_modelfile

    gguf = write_tiny_gguf(tmp_path / "tiny.gguf")
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(f"FROM {gguf.name}\nADAPTER lora.gguf\n")
    with pytest.raises(GemmaikuError, match="ADAPTER is not applied"):
        served_from_modelfile("poet", modelfile)
