"""How many requests each served model decodes at once (`gemmaiku serve --parallel`), and its queue.

A model decodes up to ``parallel`` requests in one llama.cpp batch per step (runtime.batch); on a
CPU a step over several sequences costs little more than a step over one, since decoding is bound
by reading the weights. What it costs is memory: every sequence holds its own KV cache. The
default is therefore the smallest of

* :data:`DEFAULT_PARALLEL` (Open WebUI sends four requests per user turn),
* :data:`SEQUENCES_PER_CORE` per core this process may run on,
* as many requests as their KV cache fits in :data:`KV_MEMORY_SHARE` of the available memory,
  shared by the models the server may hold loaded at once;

the KV cache is computed from the GGUF's header as llama.cpp sizes it (:func:`kv_bytes_per_sequence`).
A guarded model's request holds several sequences (its candidates), and is counted so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemmaiku.errors import GemmaikuError

DEFAULT_PARALLEL = 4  # Open WebUI sends four requests per user turn
# A step's cost still grows with its sequences (the 270M, 1 thread: 60 ms for 1, 82 ms for 4), and
# every request in the batch waits for the whole step: a 1-core machine batches 2, not 4.
SEQUENCES_PER_CORE = 2
KV_MEMORY_SHARE = 0.5  # of the available memory, for the KV caches of all loadable models
KV_BYTES_PER_VALUE = 2  # llama.cpp's default KV cache type is F16
CELL_PADDING = 256  # llama.cpp pads KV cache sizes to 256 cells
UBATCH = 512  # runtime.batch.MAX_BATCH: a sliding-window cache holds the window plus one ubatch

# Architectures whose layers mostly attend over a sliding window: every Nth layer is global
# (llama.cpp's load_swa_pattern defaults; a GGUF may say otherwise with
# `{arch}.attention.sliding_window_pattern`). Others: every layer is counted as global.
SLIDING_PATTERNS: dict[str, int] = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "cohere2": 4}


def _pad(cells: int) -> int:
    return -(-cells // CELL_PADDING) * CELL_PADDING


def _per_layer(value: Any, layers: int) -> list[int]:
    return [int(v) for v in value] if isinstance(value, list) else [int(value)] * layers


def sliding_layers(metadata: Mapping[str, Any], arch: str, layers: int) -> list[bool]:
    """For each layer, whether it attends over a sliding window (llama.cpp's set_swa_pattern)."""
    if not metadata.get(f"{arch}.attention.sliding_window"):
        return [False] * layers
    pattern = metadata.get(f"{arch}.attention.sliding_window_pattern", SLIDING_PATTERNS.get(arch, 1))
    if isinstance(pattern, list):
        return [bool(v) for v in pattern[:layers]] + [False] * (layers - len(pattern))
    n = int(pattern)
    return [n == 0 or layer % n < n - 1 for layer in range(layers)]


def kv_bytes_per_sequence(metadata: Mapping[str, Any], num_ctx: int, ubatch: int = UBATCH) -> int:
    """Bytes of KV cache one sequence holds: per layer, keys and values of every KV head for each
    cell, ``num_ctx`` cells on global layers and the window plus one ubatch on sliding ones."""
    arch = str(metadata.get("general.architecture", ""))
    layers = int(metadata.get(f"{arch}.block_count") or 0)
    heads = _per_layer(metadata.get(f"{arch}.attention.head_count") or 1, layers)
    kv_heads = _per_layer(metadata.get(f"{arch}.attention.head_count_kv") or heads, layers)
    embedding = int(metadata.get(f"{arch}.embedding_length") or 0)
    if not layers or not embedding:
        raise GemmaikuError(f"the GGUF's header lacks {arch}.block_count or embedding_length (is it a model?)")
    key_length = int(metadata.get(f"{arch}.attention.key_length") or embedding // heads[0])
    value_length = int(metadata.get(f"{arch}.attention.value_length") or embedding // heads[0])
    window = int(metadata.get(f"{arch}.attention.sliding_window") or 0)
    full = _pad(num_ctx)
    sliding = min(full, _pad(window + ubatch))
    total = 0
    for layer, is_sliding in enumerate(sliding_layers(metadata, arch, layers)):
        cells = sliding if is_sliding else full
        total += cells * kv_heads[layer] * (key_length + value_length) * KV_BYTES_PER_VALUE
    return total


def available_memory() -> int:
    """MemAvailable from /proc/meminfo (bytes), else the machine's physical memory."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _mib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


@dataclass(frozen=True)
class Choice:
    parallel: int
    reason: str


def auto_parallel(kv_per_request: int, *, num_ctx: int, cores: int, memory: int, max_loaded: int) -> Choice:
    """The default ``parallel``: the smallest of the three bounds in the module doc, and why."""
    budget = int(memory * KV_MEMORY_SHARE / max(1, max_loaded))
    fits = budget // max(1, kv_per_request)
    by_cores = SEQUENCES_PER_CORE * cores
    parallel = max(1, min(DEFAULT_PARALLEL, by_cores, fits))
    reason = (f"min({DEFAULT_PARALLEL} by default, {SEQUENCES_PER_CORE} per core x {cores} cores, {fits} whose KV "
              f"cache fits: {_mib(kv_per_request)} each at num_ctx {num_ctx} in {_mib(budget)})")
    return Choice(parallel, reason)


def local_engine(generator: Any) -> Any:
    """The llama.cpp Engine behind a served generator (a guarded one wraps it), or None (remote)."""
    from gemmaiku.runtime.engine import Engine

    for _ in range(4):
        if isinstance(generator, Engine):
            return generator
        generator = getattr(generator, "engine", None)
    return None


@dataclass
class ParallelPolicy:
    """`--parallel N`, `--parallel NAME=N` (``per_model``) and `--queue N`, applied to every model
    that gets an engine of its own (at start, and models created later through /api/create)."""

    default: int | None = None  # None: chosen per model (auto_parallel)
    per_model: dict[str, int] = field(default_factory=dict)
    queue: int = 16
    max_loaded: int = 3

    def apply(self, model: Any) -> Choice | None:
        """Set the model's engine's ``parallel`` and ``max_queue``; None for a model with no
        local engine, or one already loaded (it keeps what it was loaded with)."""
        engine = local_engine(getattr(model, "engine", None))
        if engine is None or engine.loaded:
            return None
        choice = self.choose(model.name, engine)
        # The server's admission answers 503 past parallel + queue requests; every request passes
        # through the engine's own queue on its way in, so that one must take them all.
        engine.parallel, engine.max_queue = choice.parallel, choice.parallel + self.queue
        return choice

    def choose(self, name: str, engine: Any) -> Choice:
        from gemmaiku.serve.registry import normalize_name

        given = self.per_model.get(normalize_name(name), self.default)
        if given is not None:
            return Choice(given, f"--parallel {given}")
        from gemmaiku.base.gguf_io import open_gguf

        num_ctx = engine.options.num_ctx
        per_request = kv_bytes_per_sequence(open_gguf(engine.path).metadata, num_ctx) * engine.sequences_per_request
        return auto_parallel(per_request, num_ctx=num_ctx, cores=usable_cores(), memory=available_memory(),
                             max_loaded=self.max_loaded)


def parse_parallel(args: tuple[str, ...]) -> tuple[int | None, dict[str, int]]:
    """`--parallel N` (every model) and `--parallel NAME=N` (one model), in any mix."""
    from gemmaiku.serve.registry import normalize_name

    default: int | None = None
    per_model: dict[str, int] = {}
    for arg in args:
        name, sep, count = arg.rpartition("=")
        if not count.isdigit() or int(count) < 1 or (sep and not name):
            raise GemmaikuError(f"bad --parallel {arg!r} (write N or NAME=N with N >= 1, e.g. --parallel 4)")
        if sep:
            per_model[normalize_name(name.lower())] = int(count)
        else:
            default = int(count)
    return default, per_model
