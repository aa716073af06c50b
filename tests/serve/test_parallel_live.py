"""`serve --parallel 4` on the real base model: concurrent streams with random hang-ups leave no
sequence, request or memory behind, the official `ollama` and `openai` clients work unchanged
when their requests share batches, a full queue is a 503, and the default's KV arithmetic is the
size llama.cpp itself reports."""

from __future__ import annotations

import json
import logging
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import ollama
import openai
import pytest

from gemmaiku.base.gguf_io import open_gguf
from gemmaiku.bench.hostile import rss_mb
from gemmaiku.runtime import Engine, options_from
from gemmaiku.runtime.batch import backend_init
from gemmaiku.serve import Registry, ServeSettings
from gemmaiku.serve.cli import configure_parallel
from gemmaiku.serve.limits import Limits
from gemmaiku.serve.parallel import kv_bytes_per_sequence
from gemmaiku.serve.registry import served_from_gguf
from tests.serve.conftest import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PARAMS = {"temperature": 0.0, "num_predict": 16, "seed": 1}
PROMPTS = ["Write about rain.", "Name three colours.", "What is a river?", "Describe a cat in one line.",
           "Count to five.", "Why is the sky blue?", "Say hello in French.", "What is bread made of?"]
GENEROUS_S = 300.0  # bounds on waits, never asserted as timings


def chat_body(prompt: str, **options) -> dict:
    return {"model": "gemma", "messages": [{"role": "user", "content": prompt}], "options": options}


def wait_until(condition, timeout: float = GENEROUS_S) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Stack:
    """The server with its registry and app, to read the engine's and the admission's counts."""

    def __init__(self, base_gguf: Path, *, parallel: str, queue: int) -> None:
        self.registry = Registry([base_gguf.parent])
        self.registry.add(served_from_gguf("gemma", base_gguf, parameters=PARAMS, n_threads=1))
        limits = Limits(max_queue=queue)
        configure_parallel(self.registry, (parallel,), limits)
        self.server = LiveServer(self.registry, ServeSettings(limits=limits))

    @property
    def engine(self) -> Engine:
        return self.registry.get_served("gemma").engine

    def idle(self) -> bool:
        counts = self.engine.counts()
        return (counts["active"], counts["waiting"], counts["free_sequences"]) == (0, 0, counts["sequences"]) \
            and self.server.app.state.admission.counts()["in_flight"] == 0


@pytest.fixture(scope="module")
def stack(base_gguf: Path):
    stack = Stack(base_gguf, parallel="4", queue=16)
    with stack.server as url:
        stack.url = url
        yield stack
    stack.engine.unload()


@pytest.fixture(scope="module")
def alone(stack) -> dict[str, str]:
    """Each prompt's greedy reply, one request at a time."""
    replies = {}
    for prompt in PROMPTS:
        response = httpx.post(stack.url + "/api/chat", json={**chat_body(prompt), "stream": False}, timeout=GENEROUS_S)
        replies[prompt] = response.json()["message"]["content"]
    return replies


def stream_or_hang_up(url: str, prompt: str, hang_up_after: int | None) -> str | None:
    """Stream a reply; with ``hang_up_after``, close the connection after that many lines."""
    with httpx.Client(timeout=GENEROUS_S) as client, client.stream("POST", url + "/api/chat",
                                                                   json=chat_body(prompt)) as response:
        assert response.status_code == 200
        text = []
        for lines, line in enumerate(response.iter_lines()):
            if hang_up_after is not None and lines >= hang_up_after:
                return None  # leaving the block closes the connection mid-stream
            obj = json.loads(line)
            text.append(obj["message"]["content"])
            if obj["done"]:
                return "".join(text)
    raise AssertionError("the stream ended without its final line")


def storm(stack, rng: random.Random) -> dict[str, str]:
    """8 concurrent streams, about half of them hanging up early; the finished replies by prompt."""
    plans = [(prompt, rng.choice([None, 0, 1, 3, 6])) for prompt in PROMPTS]
    with ThreadPoolExecutor(len(plans)) as pool:
        results = list(pool.map(lambda plan: stream_or_hang_up(stack.url, *plan), plans))
    return {prompt: text for (prompt, _), text in zip(plans, results, strict=True) if text is not None}


def test_the_engine_is_configured_as_serve_parallel_4_configures_it(stack):
    assert stack.engine.parallel == 4 and stack.engine.max_queue == 4 + 16


def test_8_streams_with_random_hang_ups_leave_nothing_behind(stack, alone):
    rng = random.Random(13)
    finished = storm(stack, rng)  # warms up the server's threads and buffers
    assert wait_until(stack.idle)
    baseline = rss_mb()
    for _ in range(3):
        finished |= storm(stack, rng)
        assert wait_until(stack.idle), (stack.engine.counts(), stack.server.app.state.admission.counts())
    assert finished and all(finished[prompt] == alone[prompt] for prompt in finished)
    assert rss_mb() - baseline < 64
    # and it keeps answering, as before
    again = httpx.post(stack.url + "/api/chat", json={**chat_body(PROMPTS[0]), "stream": False}, timeout=GENEROUS_S)
    assert again.status_code == 200 and again.json()["message"]["content"] == alone[PROMPTS[0]]


def test_api_ps_shows_the_slot_accounting(stack, alone):
    rows = httpx.get(stack.url + "/api/ps", timeout=30).json()["models"]
    assert rows[0]["gemmaiku_slots"] == {"active": 0, "waiting": 0, "free_sequences": 4, "sequences": 4}
    assert ollama.Client(host=stack.url).ps().models[0].model == "gemma:latest"  # the client takes the row


def test_the_official_clients_share_batches_unchanged(stack, alone):
    client = ollama.Client(host=stack.url)
    oai = openai.OpenAI(base_url=stack.url + "/v1", api_key="unused", max_retries=0)

    def with_ollama(prompt: str, stream: bool) -> str:
        messages = [{"role": "user", "content": prompt}]
        if stream:
            return "".join(part.message.content for part in client.chat(model="gemma", messages=messages,
                                                                         options=PARAMS, stream=True))
        return client.chat(model="gemma", messages=messages, options=PARAMS).message.content

    def with_openai(prompt: str, stream: bool) -> str:
        kwargs = dict(model="gemma", messages=[{"role": "user", "content": prompt}], temperature=0.0, seed=1,
                      max_tokens=PARAMS["num_predict"])
        if stream:
            return "".join(chunk.choices[0].delta.content or "" for chunk in oai.chat.completions.create(
                **kwargs, stream=True) if chunk.choices)
        return oai.chat.completions.create(**kwargs).choices[0].message.content

    calls = [(fn, prompt, stream) for prompt in PROMPTS[:4] for fn in (with_ollama, with_openai)
             for stream in (False, True)]
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda call: call[0](call[1], call[2]), calls))
    assert replies == [alone[prompt] for _, prompt, _ in calls]
    assert wait_until(stack.idle)


def test_a_full_queue_is_a_503_with_retry_after_and_frees_up(base_gguf):
    stack = Stack(base_gguf, parallel="1", queue=0)
    # a format the reply cannot end early in: 200 numbers (the one place stays taken meanwhile)
    long = {**chat_body(PROMPTS[1], num_predict=4000),
            "format": {"type": "array", "items": {"type": "integer"}, "minItems": 200, "maxItems": 200}}
    with stack.server as url, httpx.Client(timeout=GENEROUS_S) as client:
        with client.stream("POST", url + "/api/chat", json=long) as held:
            next(held.iter_lines())  # decoding: the one place is taken
            refused = httpx.post(url + "/v1/chat/completions", timeout=GENEROUS_S,
                                 json={"model": "gemma", "messages": [{"role": "user", "content": "hi"}]})
            assert refused.status_code == 503 and "busy" in refused.json()["error"]["message"]
            assert int(refused.headers["Retry-After"]) >= 1
        assert wait_until(stack.idle)  # the held stream hung up
        after = httpx.post(url + "/api/chat", json={**chat_body(PROMPTS[1]), "stream": False}, timeout=GENEROUS_S)
        assert after.status_code == 200
    stack.engine.unload()


def test_the_kv_cache_size_is_what_llama_cpp_allocates(base_gguf, capsys):
    """The default's arithmetic against llama.cpp's own log line ``llama_kv_cache: size = X MiB``."""
    backend_init()  # sets the log level once per process: set ours after it
    llama_log = logging.getLogger("llama-cpp-python")
    level = llama_log.level
    llama_log.setLevel(logging.DEBUG)
    try:
        engine = Engine(base_gguf, options=options_from({"num_ctx": 1536}), n_threads=1, parallel=3)
        engine.load()
        engine.unload()
    finally:
        llama_log.setLevel(level)
    sizes = [float(m) for m in re.findall(r"llama_kv_cache: size = +([\d.]+) MiB", capsys.readouterr().err)]
    assert sizes, "llama.cpp logged no KV cache size"
    assert sum(sizes) * 2**20 == 3 * kv_bytes_per_sequence(open_gguf(base_gguf).metadata, 1536)
