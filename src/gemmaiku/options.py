"""Ollama's generation options as one table, and the values Gemmaiku ships.

Every row says what Ollama says about an option (``api/types.go``: its name, its type, its
default in ``DefaultOptions``; ``parser/parser.go``: whether ``ollama create`` still takes it),
the range where a value means something to the sampler, and whether the llama.cpp runtime here
honours it per request. Everything else derives from this table: the runtime's
``GenerationOptions`` (what a request or a Modelfile may set), the Modelfile linter and
``gemmaiku modelfile params``, the CLI's ``-o NAME=VALUE`` and the evaluation's defaults.

Statuses: ``current`` (Ollama uses it), ``deprecated`` (``ollama create`` accepts it with a
warning and drops it), ``removed`` (``ollama create`` refuses it as an unknown parameter).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gemmaiku.chat import END_OF_TURN
from gemmaiku.errors import GemmaikuError

INF = math.inf
TYPE_NAMES = {"int": "an integer", "float": "a number", "bool": "true or false", "list": "a list of strings"}


@dataclass(frozen=True)
class Option:
    name: str
    type: str  # "int", "float", "bool" or "list" (of strings; a repeatable PARAMETER)
    default: Any  # Ollama's own (api.DefaultOptions); None where Ollama has none
    low: float = -INF
    high: float = INF  # for "list": the most entries
    status: str = "current"
    runtime: bool = False  # the llama.cpp runtime honours it per request
    help: str = ""
    above_low: bool = False  # the value must be strictly greater than ``low``

    def describe_range(self) -> str:
        if self.type == "bool":
            return "true or false"
        if self.type == "list":
            return "non-empty strings" if self.high == INF else f"up to {_number(self.high)} non-empty strings"
        if self.low == -INF and self.high == INF:
            return f"any {self.type}"
        if self.high == INF:
            return f"{'>' if self.above_low else '>='} {_number(self.low)}"
        if self.low == -INF:
            return f"<= {_number(self.high)}"
        return f"{'above ' if self.above_low else ''}{_number(self.low)} to {_number(self.high)}"

    def check(self, value: Any) -> str | None:
        """The problem with ``value`` (already of this option's type), or None when it is in range."""
        if self.type == "list":
            if any(v == "" for v in value):
                return "an empty stop string stops nothing"
            return f"{self.name} has {len(value)} entries, more than {_number(self.high)}" if len(value) > self.high else None
        if self.type == "float" and math.isnan(value):
            return f"{self.name} is NaN"
        too_low = value <= self.low if self.above_low else value < self.low
        if self.type in ("int", "float") and (too_low or value > self.high):
            return f"{self.name} {_number(value)} is out of range ({self.describe_range()})"
        return None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


_O = Option
OPTIONS: dict[str, Option] = {
    o.name: o
    for o in [
        # Runner options: fixed when the model is loaded. Ollama 0.12's default context is 4096.
        _O("num_ctx", "int", 4096, 16, 1_048_576, runtime=True, help="context window in tokens"),
        _O("num_batch", "int", 512, 1, help="prompt tokens processed per batch"),
        _O("num_gpu", "int", -1, -1, help="layers offloaded to the GPU (-1: decide)"),
        _O("main_gpu", "int", None, 0, help="GPU for small tensors"),
        _O("use_mmap", "bool", None, help="memory-map the model file"),
        _O("num_thread", "int", 0, 0, help="CPU threads (0: decide)"),
        _O("draft_num_predict", "int", 4, 0, help="speculative draft tokens per step (0: off)"),
        # Prediction options: per request.
        _O("num_keep", "int", 4, -1, help="prompt tokens kept on a context shift (-1: all)"),
        _O("seed", "int", -1, -1, 2**32 - 1, runtime=True, help="random seed (-1: random)"),
        _O("num_predict", "int", -1, -2, 1_000_000, runtime=True,
           help="tokens to generate (-1: no limit, -2: fill context)"),
        _O("top_k", "int", 40, 0, 100_000, runtime=True, help="sample from the k most likely tokens (0: all)"),
        _O("top_p", "float", 0.9, 0.0, 1.0, runtime=True, help="nucleus sampling mass"),
        _O("min_p", "float", 0.0, 0.0, 1.0, runtime=True, help="drop tokens below min_p x the top probability"),
        _O("typical_p", "float", 1.0, 0.0, 1.0, runtime=True, help="locally typical sampling (1: off)"),
        _O("repeat_last_n", "int", 64, -1, 1_000_000, runtime=True,
           help="tokens looked back for penalties (0: off, -1: num_ctx)"),
        _O("temperature", "float", 0.8, 0.0, 5.0, runtime=True, help="sampling temperature (0: greedy)"),
        # 0 would divide logits by zero in llama.cpp's penalty sampler.
        _O("repeat_penalty", "float", 1.1, 0.0, 10.0, runtime=True, above_low=True,
           help="penalty for repeated tokens (1: off)"),
        _O("presence_penalty", "float", 0.0, -2.0, 2.0, runtime=True, help="penalty for tokens already present"),
        _O("frequency_penalty", "float", 0.0, -2.0, 2.0, runtime=True, help="penalty by token frequency"),
        _O("stop", "list", [], high=16, runtime=True, help="stop sequence; repeat the PARAMETER line for several"),
        # Accepted by `ollama create` with a warning, then dropped. The runtime here still
        # honours mirostat in a request's options (Ollama's former defaults).
        _O("mirostat", "int", 0, 0, 2, status="deprecated", runtime=True, help="mirostat sampling (0: off)"),
        _O("mirostat_tau", "float", 5.0, 0.0, status="deprecated", runtime=True, help="mirostat target entropy"),
        _O("mirostat_eta", "float", 0.1, 0.0, status="deprecated", runtime=True, help="mirostat learning rate"),
        _O("penalize_newline", "bool", None, status="deprecated"),
        _O("low_vram", "bool", None, status="deprecated"),
        _O("f16_kv", "bool", None, status="deprecated"),
        _O("logits_all", "bool", None, status="deprecated"),
        _O("vocab_only", "bool", None, status="deprecated"),
        _O("use_mlock", "bool", None, status="deprecated"),
        # Gone from Ollama: `ollama create` answers "unknown parameter".
        _O("tfs_z", "float", None, 0.0, status="removed"),
        _O("numa", "bool", None, status="removed"),
        _O("num_gqa", "int", None, 1, status="removed"),
        _O("rope_frequency_base", "float", None, 0.0, status="removed"),
        _O("rope_frequency_scale", "float", None, 0.0, status="removed"),
        _O("embedding_only", "bool", None, status="removed"),
    ]
}

CURRENT = frozenset(name for name, o in OPTIONS.items() if o.status == "current")
RUNTIME = frozenset(name for name, o in OPTIONS.items() if o.runtime)

# What Gemmaiku ships: the PARAMETERs of its Modelfile (`gemmaiku modelfile write`), which the
# evaluation and the benchmarks sample with too. The rest are Ollama's defaults.
SHIPPED: dict[str, Any] = {"temperature": 0.6, "repeat_penalty": 1.1, "stop": [END_OF_TURN]}


def shipped_sampling() -> dict[str, Any]:
    """The shipped sampling values without the stop strings (those belong to the chat format)."""
    return {name: value for name, value in SHIPPED.items() if name != "stop"}


def ollama_defaults(names: frozenset[str] = CURRENT) -> dict[str, Any]:
    """Ollama's defaults (``api.DefaultOptions``) for the options in ``names`` that have one."""
    return {
        name: (list(o.default) if isinstance(o.default, list) else o.default)
        for name, o in OPTIONS.items()
        if name in names and o.default is not None
    }


def coerce_option(name: str, value: Any) -> Any:
    """A request's JSON option value converted to the option's type, as Ollama's FromMap does.

    JSON numbers are accepted for int options (truncated) and float options; bools only as
    bools; ``stop`` as a string or a list of strings. Raises :class:`GemmaikuError` otherwise.
    """
    option = OPTIONS[name]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if option.type == "int" and number and math.isfinite(value):
        return int(value)
    if option.type == "float" and number:
        return float(value)
    if option.type == "bool" and isinstance(value, bool):
        return value
    if option.type == "list":
        if isinstance(value, str):
            return [value]
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return list(value)
    raise GemmaikuError(f"option {name!r} must be {TYPE_NAMES[option.type]}, not {value!r}")
