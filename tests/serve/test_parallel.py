"""`gemmaiku serve --parallel/--queue` without a model: the options, the default's KV arithmetic
(checked against llama.cpp's own log in test_parallel_live), the policy applied to served and
created models, and a full engine queue answered 503 with Retry-After on both APIs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from gemmaiku.errors import GemmaikuError
from gemmaiku.runtime import Engine, GenerationOptions
from gemmaiku.runtime.batch import Busy
from gemmaiku.runtime.guarded import GuardedEngine
from gemmaiku.serve import Registry
from gemmaiku.serve.cli import configure_parallel
from gemmaiku.serve.limits import Limits
from gemmaiku.serve.parallel import (
    ParallelPolicy,
    auto_parallel,
    kv_bytes_per_sequence,
    local_engine,
    parse_parallel,
    sliding_layers,
)
from gemmaiku.serve.registry import ServedModel, served_from_gguf
from tests.serve.conftest import LiveServer, write_tiny_gguf

MiB = 2**20
# The bundled Gemma 3 270M's header (the keys the KV size depends on).
GEMMA3_270M = {
    "general.architecture": "gemma3", "gemma3.block_count": 18, "gemma3.embedding_length": 640,
    "gemma3.attention.head_count": 4, "gemma3.attention.head_count_kv": 1, "gemma3.attention.key_length": 256,
    "gemma3.attention.value_length": 256, "gemma3.attention.sliding_window": 512,
}


def write_gemma3_gguf(path: Path) -> Path:
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "gemma3")
    writer.add_context_length(32768)
    writer.add_embedding_length(640)
    writer.add_block_count(18)
    writer.add_head_count(4)
    writer.add_head_count_kv(1)
    writer.add_key_length(256)
    writer.add_value_length(256)
    writer.add_sliding_window(512)
    writer.add_file_type(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# -- options ----------------------------------------------------------------------------------------
def test_parallel_for_all_and_per_model():
    assert parse_parallel(("4",)) == (4, {})
    assert parse_parallel(("2", "Gemmaiku=3", "smollm2:q4=1")) == (2, {"gemmaiku:latest": 3, "smollm2:q4": 1})
    assert parse_parallel(()) == (None, {})


@pytest.mark.parametrize("bad", ["0", "four", "=2", "gemmaiku=", "gemmaiku=-1", "gemmaiku=0"])
def test_bad_parallel_values_name_the_form(bad):
    with pytest.raises(GemmaikuError, match=r"bad --parallel .* \(write N or NAME=N"):
        parse_parallel((bad,))


# -- the default ------------------------------------------------------------------------------------
def test_gemma3_kv_cache_is_3_global_layers_and_15_windowed_ones():
    assert sliding_layers(GEMMA3_270M, "gemma3", 18).count(False) == 3  # layers 5, 11 and 17
    # 1 KiB per cell and layer (1 KV head x (256 + 256) x 2 bytes); the window holds 512 + 512 cells
    assert kv_bytes_per_sequence(GEMMA3_270M, 4096) == (3 * 4096 + 15 * 1024) * 1024
    assert kv_bytes_per_sequence(GEMMA3_270M, 1000) == 18 * 1024 * 1024  # padded to 1024 cells, all layers
    assert kv_bytes_per_sequence(GEMMA3_270M, 2048, ubatch=64) == (3 * 2048 + 15 * 768) * 1024


def test_a_model_without_a_window_holds_the_whole_context_on_every_layer():
    llama = {"general.architecture": "llama", "llama.block_count": 30, "llama.embedding_length": 576,
             "llama.attention.head_count": 9, "llama.attention.head_count_kv": 3}
    assert kv_bytes_per_sequence(llama, 2048) == 30 * 2048 * 3 * (64 + 64) * 2


def test_a_pattern_in_the_header_overrides_the_architecture_default():
    header = {**GEMMA3_270M, "gemma3.attention.sliding_window_pattern": 2}
    assert sliding_layers(header, "gemma3", 18).count(False) == 9
    listed = {**GEMMA3_270M, "gemma3.attention.sliding_window_pattern": [True, False] * 9}
    assert sliding_layers(listed, "gemma3", 18) == [True, False] * 9


def test_a_header_without_layers_is_refused():
    with pytest.raises(GemmaikuError, match="block_count"):
        kv_bytes_per_sequence({"general.architecture": "gemma3"}, 4096)


def test_the_default_is_the_smallest_bound_and_says_why():
    plenty = auto_parallel(27 * MiB, num_ctx=4096, cores=2, memory=16 * 2**30, max_loaded=3)
    assert plenty.parallel == 4 and "2 per core x 2 cores" in plenty.reason and "27 MiB each" in plenty.reason
    assert auto_parallel(27 * MiB, num_ctx=4096, cores=1, memory=16 * 2**30, max_loaded=3).parallel == 2
    tight = auto_parallel(300 * MiB, num_ctx=32768, cores=8, memory=2 * 2**30, max_loaded=1)
    assert tight.parallel == 3 and "3 whose KV cache fits" in tight.reason
    assert auto_parallel(4 * 2**30, num_ctx=131072, cores=8, memory=2**30, max_loaded=1).parallel == 1


# -- the policy ---------------------------------------------------------------------------------------
@pytest.fixture
def gemma3_gguf(tmp_path: Path) -> Path:
    return write_gemma3_gguf(tmp_path / "gemma3.gguf")


def test_the_policy_sets_parallel_and_queue_on_the_engine_behind_a_guard(gemma3_gguf):
    plain = served_from_gguf("plain", gemma3_gguf)
    guarded = served_from_gguf("guarded", gemma3_gguf)
    guarded.engine = GuardedEngine(guarded.engine, 4)
    policy = ParallelPolicy(per_model={"guarded:latest": 2}, queue=5)
    chosen = policy.apply(plain)
    assert chosen is not None and plain.engine.parallel == chosen.parallel >= 1
    assert plain.engine.max_queue == chosen.parallel + 5  # every request passes through it
    assert policy.apply(guarded).reason == "--parallel 2"
    inner = local_engine(guarded.engine)
    assert isinstance(inner, Engine) and inner.parallel == 2 and inner.sequences == 2 * inner.sequences_per_request


def test_a_guarded_request_counts_all_its_sequences_against_memory(gemma3_gguf, monkeypatch):
    monkeypatch.setattr("gemmaiku.serve.parallel.available_memory", lambda: 1024 * MiB)
    monkeypatch.setattr("gemmaiku.serve.parallel.usable_cores", lambda: 4)
    plain = served_from_gguf("plain", gemma3_gguf)
    guarded = served_from_gguf("guarded", gemma3_gguf)
    guarded.engine = GuardedEngine(guarded.engine, 4)  # 10 sequences a request
    policy = ParallelPolicy(max_loaded=1)
    assert policy.apply(plain).parallel == 4  # 27 MiB a request: 18 fit in 512 MiB
    assert policy.apply(guarded).parallel == 1  # 270 MiB a request: 1 fits


def test_a_model_with_no_local_engine_or_already_loaded_is_left_alone(tmp_path):
    @dataclass
    class Remote:
        options: GenerationOptions = field(default_factory=GenerationOptions)
        loaded: bool = True

    remote = ServedModel(name="far", path=write_tiny_gguf(tmp_path / "t.gguf"), engine=Remote())
    assert ParallelPolicy(default=4).apply(remote) is None


def test_models_created_later_get_the_rule_and_copies_keep_theirs(gemma3_gguf, capsys):
    registry = Registry([gemma3_gguf.parent])
    registry.add(served_from_gguf("first", gemma3_gguf))
    configure_parallel(registry, ("3", "first=2"), Limits(max_queue=7))
    first = registry.get_served("first").engine
    assert (first.parallel, first.max_queue) == (2, 2 + 7)
    line = capsys.readouterr().err
    assert "first:latest decodes up to 2 requests at once: --parallel 2; 7 more may wait" in line
    registry.add(served_from_gguf("created", gemma3_gguf))  # as /api/create adds it
    assert registry.get_served("created").engine.parallel == 3
    registry.add(ServedModel(name="copy", path=gemma3_gguf, engine=first))  # /api/copy shares the engine
    assert first.parallel == 2


def test_parallel_for_a_model_not_served_is_refused(gemma3_gguf):
    registry = Registry([gemma3_gguf.parent])
    registry.add(served_from_gguf("gemmaiku", gemma3_gguf))
    with pytest.raises(GemmaikuError, match="--parallel smol=...: no such served model .*gemmaiku:latest"):
        configure_parallel(registry, ("smol=2",), Limits())


# -- a full engine queue is a 503 ----------------------------------------------------------------------
@dataclass
class FullEngine:
    """An engine whose scheduler queue is full."""

    options: GenerationOptions = field(default_factory=GenerationOptions)
    loaded: bool = True
    parallel: int = 1

    def load(self) -> float:
        return 0.0

    def unload(self) -> None:
        pass

    def stream(self, messages=None, *, prompt=None, options=None, grammar=None):
        raise Busy("the model's queue is full (2 waiting; retry shortly)")
        yield


@pytest.fixture(scope="module")
def full_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("full")
    registry = Registry([folder])
    registry.add(ServedModel(name="full", path=write_tiny_gguf(folder / "t.gguf"), engine=FullEngine()))
    with LiveServer(registry) as url:
        yield url


@pytest.mark.parametrize("path,body,message", [
    ("/api/chat", {"model": "full", "messages": [{"role": "user", "content": "hi"}]}, lambda b: b["error"]),
    ("/v1/chat/completions", {"model": "full", "messages": [{"role": "user", "content": "hi"}], "stream": True},
     lambda b: b["error"]["message"]),
])
def test_a_full_engine_queue_is_a_503_with_retry_after(full_server, path, body, message):
    response = httpx.post(full_server + path, json=body, timeout=30)
    assert response.status_code == 503
    assert "queue is full" in message(response.json())
    assert int(response.headers["Retry-After"]) >= 1
