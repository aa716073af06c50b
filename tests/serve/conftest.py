"""Servers for the tests: a fake engine for wire formats, real GGUFs for the client tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import uvicorn

from gemmaiku.runtime import Chunk, GenerationOptions
from gemmaiku.serve import Registry, ServeSettings, create_app
from gemmaiku.serve.door import server_config
from gemmaiku.serve.registry import ServedModel

FAKE_REPLY = "Snow on the cedar\nthe kettle starts its low song\nsteam writes on the pane"


@dataclass
class FakeEngine:
    """Stands in for runtime.Engine: replies with a fixed haiku, a word per chunk."""

    reply: str = FAKE_REPLY
    options: GenerationOptions = field(default_factory=GenerationOptions)
    loaded: bool = False
    seen: list = field(default_factory=list)

    def load(self) -> float:
        self.loaded = True
        return 0.0

    def unload(self) -> None:
        self.loaded = False

    def stream(self, messages=None, *, prompt=None, options=None, grammar=None) -> Iterator[Chunk]:
        self.load()
        options = options or self.options
        self.seen.append({"messages": messages, "prompt": prompt, "options": options, "grammar": grammar})
        tokenize(messages, prompt)
        words = self.reply.split(" ")
        limit = len(words) if options.num_predict < 0 else min(options.num_predict, len(words))
        for i, word in enumerate(words[:limit]):
            yield Chunk(word if i == 0 else " " + word, 7, i + 1)
        yield Chunk("", 7, limit, "stop" if limit == len(words) else "length", 0.01, 0.02, 0.03)


def tokenize(messages, prompt) -> bytes:
    """What llama.cpp's tokenizer needs first: the text as UTF-8 (a lone surrogate cannot be)."""
    text = prompt if prompt is not None else "".join(m["content"] for m in messages or [])
    return text.encode("utf-8")


@dataclass
class SlowEngine:
    """A model that takes its time: ``tokens`` chunks, ``delay`` seconds apart, counting the streams
    open and the tokens made. ``heartbeat`` sends empty chunks until the whole text is ready, as
    guarded and search decoding do between tokens and candidates. ``gate``, when given, holds
    ``load`` until it is set (a slow model load)."""

    tokens: int = 2000
    delay: float = 0.005
    heartbeat: bool = False
    gate: threading.Event | None = None
    fail_with: Exception | None = None
    options: GenerationOptions = field(default_factory=GenerationOptions)
    loaded: bool = False
    open_streams: int = 0
    produced: int = 0
    streams: int = 0
    started: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self) -> float:
        if self.gate is not None and not self.gate.wait(timeout=60):
            raise RuntimeError("the test never opened the load gate")
        self.loaded = True
        return 0.0

    def unload(self) -> None:
        self.loaded = False

    def stream(self, messages=None, *, prompt=None, options=None, grammar=None) -> Iterator[Chunk]:
        self.load()
        tokenize(messages, prompt)
        if self.fail_with is not None:
            raise self.fail_with
        options = options or self.options
        limit = self.tokens if options.num_predict < 0 else min(options.num_predict, self.tokens)
        with self.lock:
            self.open_streams += 1
            self.streams += 1
        self.started.set()
        try:
            for i in range(limit):
                time.sleep(self.delay)
                with self.lock:
                    self.produced += 1
                yield Chunk("" if self.heartbeat else "x", 5, i + 1)
            yield Chunk("x" * limit if self.heartbeat else "", 5, limit, "length", 0.0, 0.0, self.delay * limit)
        finally:
            with self.lock:
                self.open_streams -= 1
            self.closed.set()


def write_tiny_gguf(path: Path, arch: str = "gemma3") -> Path:
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), arch)
    writer.add_context_length(128)
    writer.add_file_type(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def fake_registry(tmp_path: Path) -> Registry:
    gguf_path = write_tiny_gguf(tmp_path / "tiny.gguf")
    registry = Registry([tmp_path])
    registry.add(ServedModel(name="haiku", path=gguf_path, engine=FakeEngine(),
                             system="Answer in haiku.", parameters={"temperature": 0.6, "stop": ["<end_of_turn>"]}))
    return registry


class LiveServer:
    """The server on loopback, port 0, configured as `gemmaiku serve` runs it."""

    def __init__(self, registry: Registry, settings: ServeSettings | None = None) -> None:
        settings = settings or ServeSettings()
        self.app = create_app(registry, settings)
        self.server = uvicorn.Server(server_config(self.app, "127.0.0.1", 0, settings.limits))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
