"""What one request may cost the server, and the checks that hold it to that.

Every budget is a row of :class:`Limits` (defaults sized for a 2-core machine; Ollama-style
environment variables where Ollama has one). A request over a budget gets a 400 that names the
limit; blocking work (renders, parses, grammar builds, header reads, model loads) runs in worker
threads through :func:`off_loop`, so one costly request never stalls the event loop that answers
everybody else.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from gemmaiku.errors import GemmaikuError

T = TypeVar("T")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


@dataclass(frozen=True)
class Limits:
    """Budgets per request (the body size limit is ServeSettings.max_body_bytes, `--max-body`)."""

    header_timeout_s: float = 10.0  # a request's headers, from the connection (or the last reply)
    body_timeout_s: float = 60.0  # the whole body, once the headers are in
    modelfile_bytes: int = 256 * 1024  # the Modelfile text of /api/create (its parse is ~2 s/MB)
    template_chars: int = 64 * 1024  # a TEMPLATE (Ollama's own are 1-3 KB)
    schema_bytes: int = 16 * 1024  # a `format` JSON schema, as JSON
    schema_repeat: int = 256  # minItems/maxItems/minLength/maxLength/... and {m,n} in patterns
    grammar_bytes: int = 256 * 1024  # the GBNF built from a schema
    json_depth: int = 64  # nesting of a request body
    # Models: at most this many loaded (the least recently used idle one is unloaded first, as
    # OLLAMA_MAX_LOADED_MODELS), and this many requests waiting per model beyond those decoding
    # (OLLAMA_MAX_QUEUE); one more gets 503.
    max_loaded: int = field(default_factory=lambda: _env_int("GEMMAIKU_MAX_LOADED_MODELS", 3))
    max_queue: int = field(default_factory=lambda: _env_int("GEMMAIKU_MAX_QUEUE", 16))


class OverBudget(GemmaikuError):
    """A request over one of the server's limits (answered 400, naming the limit)."""


# Work moved off the event loop shares these threads; generation streams use anyio's default
# pool, so a burst of slow creates cannot starve decoding (and the other way round).
_WORKERS = anyio.CapacityLimiter(8)


async def off_loop(function: Callable[..., T], *args: Any) -> T:
    """Run blocking ``function(*args)`` in a worker thread and wait for it."""
    return await anyio.to_thread.run_sync(function, *args, limiter=_WORKERS)


# -- response formats (JSON schemas become GBNF grammars) ---------------------------------------
# Schema keywords whose value llama.cpp's converter repeats as text: a bound of 2,000,000 made a
# 36 MB grammar, and a large maxItems nests as deep as the bound (its parser recurses on it).
REPEAT_KEYWORDS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")
REGEX_REPEAT = re.compile(r"\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}")


def check_schema(schema: Any, limits: Limits) -> None:
    """Refuse a JSON schema whose grammar would be too large to build or to parse."""
    size = len(json.dumps(schema))
    if size > limits.schema_bytes:
        raise OverBudget(f"the format schema is {size} bytes, over the limit of {limits.schema_bytes}")
    for where, key, value in _walk_schema(schema, "format", limits.json_depth):
        if key in REPEAT_KEYWORDS and isinstance(value, int | float) and value > limits.schema_repeat:
            raise OverBudget(
                f"{where}.{key} is {value}, over the limit of {limits.schema_repeat} "
                "(a grammar repeats the item that many times)"
            )
        if key == "pattern" and isinstance(value, str):
            for match in REGEX_REPEAT.finditer(value):
                bounds = [int(n) for n in match.groups() if n]
                if max(bounds) > limits.schema_repeat:
                    raise OverBudget(
                        f"{where}.pattern repeats {match.group()}, over the limit of {limits.schema_repeat}"
                    )


def _walk_schema(node: Any, where: str, depth: int):
    """(path, key, value) for every key of every object in ``node``, iteratively."""
    stack = [(node, where, 0)]
    while stack:
        item, path, level = stack.pop()
        if level > depth:
            raise OverBudget(f"the format schema nests deeper than {depth} levels")
        if isinstance(item, dict):
            for key, value in item.items():
                yield path, key, value
                stack.append((value, f"{path}.{key}", level + 1))
        elif isinstance(item, list):
            stack.extend((value, f"{path}[{i}]", level + 1) for i, value in enumerate(item))


def check_grammar(grammar: str | None, limits: Limits) -> None:
    if grammar is not None and len(grammar) > limits.grammar_bytes:
        raise OverBudget(
            f"the grammar for this format is {len(grammar)} bytes, over the limit of {limits.grammar_bytes} "
            "(simplify the schema)"
        )


def check_template(source: str, limits: Limits, where: str = "template") -> None:
    if len(source) > limits.template_chars:
        raise OverBudget(f"the {where} is {len(source)} characters, over the limit of {limits.template_chars}")


def check_modelfile(text: str, limits: Limits) -> None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.modelfile_bytes:
        raise OverBudget(f"the Modelfile is {size} bytes, over the limit of {limits.modelfile_bytes}")
