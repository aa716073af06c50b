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
        words = self.reply.split(" ")
        limit = len(words) if options.num_predict < 0 else min(options.num_predict, len(words))
        for i, word in enumerate(words[:limit]):
            yield Chunk(word if i == 0 else " " + word, 7, i + 1)
        yield Chunk("", 7, limit, "stop" if limit == len(words) else "length", 0.01, 0.02, 0.03)


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
    registry.add(ServedModel(name="haiku", path=gguf_path, engine=FakeEngine(),  # type: ignore[arg-type]
                             system="Answer in haiku.", parameters={"temperature": 0.6, "stop": ["<end_of_turn>"]}))
    return registry


class LiveServer:
    def __init__(self, registry: Registry, settings: ServeSettings | None = None) -> None:
        config = uvicorn.Config(create_app(registry, settings), host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
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
