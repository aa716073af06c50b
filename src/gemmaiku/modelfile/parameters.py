"""Ollama's generation options as a table: name, type, default, valid range, status.

Read from ollama's ``api/types.go`` (``Options``, ``Runner``, ``DefaultOptions``) and
``parser/parser.go`` (the deprecated list). Three statuses:

- ``current``: Ollama uses it;
- ``deprecated``: ``ollama create`` accepts it with a warning and drops it;
- ``removed``: once an option, now ``ollama create`` refuses it as an unknown parameter.

Ollama itself checks only types; the ranges here are where a value means something to the
sampler (llama.cpp), so ``gemmaiku modelfile lint`` can flag ``temperature -1`` or ``top_p 5``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from gemmaiku.errors import GemmaikuError

INF = math.inf


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # "int", "float", "bool", "str" or "list" (of strings, repeatable)
    default: Any
    low: float = -INF
    high: float = INF
    status: str = "current"
    help: str = ""
    above_low: bool = False  # the value must be strictly greater than ``low``

    def describe_range(self) -> str:
        if self.type == "bool":
            return "true or false"
        if self.type == "list":
            return "non-empty strings"
        if self.low == -INF and self.high == INF:
            return f"any {self.type}"
        if self.high == INF:
            return f"{'>' if self.above_low else '>='} {_number(self.low)}"
        if self.low == -INF:
            return f"<= {_number(self.high)}"
        return f"{_number(self.low)} to {_number(self.high)}"

    def check(self, value: Any) -> str | None:
        """The problem with ``value`` (already of the right type), or None when it is in range."""
        if self.type == "list":
            bad = [v for v in value if v == ""]
            return "an empty stop string stops nothing" if bad else None
        too_low = value <= self.low if self.above_low else value < self.low
        if self.type in ("int", "float") and (too_low or value > self.high):
            return f"{self.name} {_number(value)} is out of range ({self.describe_range()})"
        if self.type == "float" and math.isnan(value):
            return f"{self.name} is NaN"
        return None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


_P = Parameter
PARAMETERS: dict[str, Parameter] = {
    p.name: p
    for p in [
        # Runner options: fixed when the model is loaded.
        _P("num_ctx", "int", 4096, 1, help="context window in tokens"),
        _P("num_batch", "int", 512, 1, help="prompt tokens processed per batch"),
        _P("num_gpu", "int", -1, -1, help="layers offloaded to the GPU (-1: decide)"),
        _P("main_gpu", "int", None, 0, help="GPU for small tensors"),
        _P("use_mmap", "bool", None, help="memory-map the model file"),
        _P("num_thread", "int", 0, 0, help="CPU threads (0: decide)"),
        _P("draft_num_predict", "int", 4, 0, help="speculative draft tokens per step (0: off)"),
        # Prediction options: per request.
        _P("num_keep", "int", 4, -1, help="prompt tokens kept on a context shift (-1: all)"),
        _P("seed", "int", -1, help="random seed (-1: random)"),
        _P(
            "num_predict", "int", -1, -2, help="tokens to generate (-1: no limit, -2: fill context)"
        ),
        _P("top_k", "int", 40, 0, help="sample from the k most likely tokens (0: all)"),
        _P("top_p", "float", 0.9, 0.0, 1.0, help="nucleus sampling mass"),
        _P("min_p", "float", 0.0, 0.0, 1.0, help="drop tokens below min_p x the top probability"),
        _P("typical_p", "float", 1.0, 0.0, 1.0, help="locally typical sampling (1: off)"),
        _P(
            "repeat_last_n",
            "int",
            64,
            -1,
            help="tokens looked back for penalties (0: off, -1: num_ctx)",
        ),
        _P("temperature", "float", 0.8, 0.0, help="sampling temperature (0: greedy)"),
        # 0 would divide logits by zero in llama.cpp's penalty sampler.
        _P(
            "repeat_penalty",
            "float",
            1.0,
            0.0,
            help="penalty for repeated tokens (1: off)",
            above_low=True,
        ),
        _P("presence_penalty", "float", 0.0, -2.0, 2.0, help="penalty for tokens already present"),
        _P("frequency_penalty", "float", 0.0, -2.0, 2.0, help="penalty by token frequency"),
        _P("stop", "list", [], help="stop sequence; repeat the PARAMETER line for several"),
        # Accepted by `ollama create` with a warning, then dropped.
        _P("penalize_newline", "bool", None, status="deprecated"),
        _P("low_vram", "bool", None, status="deprecated"),
        _P("f16_kv", "bool", None, status="deprecated"),
        _P("logits_all", "bool", None, status="deprecated"),
        _P("vocab_only", "bool", None, status="deprecated"),
        _P("use_mlock", "bool", None, status="deprecated"),
        _P("mirostat", "int", None, 0, 2, status="deprecated"),
        _P("mirostat_tau", "float", None, 0.0, status="deprecated"),
        _P("mirostat_eta", "float", None, 0.0, status="deprecated"),
        # Gone from Ollama: `ollama create` answers "unknown parameter".
        _P("tfs_z", "float", None, 0.0, status="removed"),
        _P("numa", "bool", None, status="removed"),
        _P("num_gqa", "int", None, 1, status="removed"),
        _P("rope_frequency_base", "float", None, 0.0, status="removed"),
        _P("rope_frequency_scale", "float", None, 0.0, status="removed"),
        _P("embedding_only", "bool", None, status="removed"),
    ]
}

CURRENT = {name for name, p in PARAMETERS.items() if p.status == "current"}

# Go's strconv: ParseInt base 10, ParseFloat (decimal, inf, nan), ParseBool.
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(
    r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)", re.IGNORECASE
)
_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


def parse_value(name: str, text: str) -> Any:
    """Convert a Modelfile PARAMETER value to its type, as ``ollama create`` does.

    Unknown names keep their text. Raises :class:`GemmaikuError` when a known option's value
    is not of its type (Ollama refuses the Modelfile then).
    """
    spec = PARAMETERS.get(name)
    if spec is None or spec.type == "str":
        return text
    if spec.type == "list":
        return [text]
    if spec.type == "int" and _INT.fullmatch(text):
        value = int(text)
        if -(2**63) <= value < 2**63:
            return value
    if spec.type == "float" and _FLOAT.fullmatch(text):
        return float(text)
    if spec.type == "bool" and text in _BOOLS:
        return _BOOLS[text]
    kind = {"int": "an integer", "float": "a number", "bool": "true or false"}[spec.type]
    raise GemmaikuError(f"{name} must be {kind}, not {text!r}")


def format_value(value: Any) -> str:
    """The Modelfile text of a typed value (the inverse of :func:`parse_value`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    return str(value)


def coerce_option(name: str, value: Any) -> Any:
    """A request's JSON option value converted to the option's type, as Ollama's FromMap does.

    JSON numbers are accepted for int options (truncated) and float options; bools only as
    bools; ``stop`` as a string or a list of strings. Raises :class:`GemmaikuError` otherwise.
    """
    spec = PARAMETERS[name]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if spec.type == "int" and number and math.isfinite(value):
        return int(value)
    if spec.type == "float" and number:
        return float(value)
    if spec.type == "bool" and isinstance(value, bool):
        return value
    if spec.type == "list":
        if isinstance(value, str):
            return [value]
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return list(value)
        raise GemmaikuError(f"option {name!r} must be a list of strings")
    kind = {"int": "an integer", "float": "a number", "bool": "a boolean"}[spec.type]
    raise GemmaikuError(f"option {name!r} must be {kind}, not {value!r}")


def default_options() -> dict[str, Any]:
    """Ollama's defaults (``api.DefaultOptions``) for the options that have one."""
    return {
        name: (list(p.default) if isinstance(p.default, list) else p.default)
        for name, p in PARAMETERS.items()
        if p.status == "current" and p.default is not None
    }
