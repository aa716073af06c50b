"""Targets: a generator to evaluate, and a clock around its stream.

A target is named by a spec ``KIND:WHERE`` (a table, :data:`KINDS`, maps each kind to the
generator it opens):

* ``gguf:PATH``: a GGUF file run in this process by llama.cpp (:class:`gemmaiku.runtime.Engine`);
  a bare ``PATH.gguf`` means the same;
* ``ollama:http://HOST:PORT/MODEL`` and ``openai:http://HOST:PORT/v1/MODEL``: a model on a server
  (Ollama, ``gemmaiku serve``, vLLM, llama.cpp's server; ``openai:http://HOST:8080/api/MODEL`` is
  Open WebUI, with ``--api-key``), through :mod:`gemmaiku.runtime.remote`, the same client the
  server uses for its upstream models.

Whatever the kind, :meth:`Target.generate` streams the reply from the generator and times it, so
each :class:`Reply` carries the time to the first piece of text as well as the token counts and
the timings the backend reports. Options use Ollama's names (temperature, seed, num_predict,
top_k, ...). With ``guard``, the generator is the server's guarded generator around it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemmaiku.errors import GemmaikuError
from gemmaiku.runtime.generator import Generator

Messages = Sequence[Mapping[str, str]]


@dataclass(frozen=True)
class Reply:
    """One reply and how it was produced."""

    text: str
    prompt_tokens: int
    generated_tokens: int
    finish_reason: str
    ttft_s: float  # request sent -> first non-empty text
    total_s: float  # request sent -> last byte
    eval_s: float | None = None  # decode time as the backend reports it, if it does
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"route": {...}, "search": {...}}

    @property
    def tokens_per_second(self) -> float:
        """Decode speed: generated tokens over the time after the first token."""
        decode = self.eval_s if self.eval_s else self.total_s - self.ttft_s
        return self.generated_tokens / decode if decode > 0 else 0.0


class Target:
    """``generator`` under the name ``spec``; ``about()`` describes it in reports (called when a
    report is written: hashing a GGUF takes seconds the first time)."""

    def __init__(self, spec: str, generator: Generator, about: Callable[[], Mapping[str, Any]]) -> None:
        self.spec, self.generator, self.about = spec, generator, about

    def generate(self, messages: Messages, options: Mapping[str, Any]) -> Reply:
        """One reply to ``messages`` with ``options`` (Ollama's names) over the generator's own."""
        from gemmaiku.runtime.options import options_from

        opts = options_from(dict(options), base=self.generator.options)
        start = time.perf_counter()
        first: float | None = None
        pieces, last = [], None
        for chunk in self.generator.stream(list(messages), options=opts):
            if chunk.text and first is None:
                first = time.perf_counter()
            pieces.append(chunk.text)
            last = chunk
        end = time.perf_counter()
        if last is None or last.finish_reason is None:
            raise GemmaikuError(f"{self.spec}: the reply ended without a final chunk")
        return Reply("".join(pieces), last.prompt_tokens, last.generated_tokens, last.finish_reason,
                     (first or end) - start, end - start, last.eval_s or None, dict(last.extra or {}))

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec, **self.about()}

    def close(self) -> None:
        self.generator.unload()


# -- parsing ------------------------------------------------------------------------------------
def _gguf(spec: str, rest: str, *, threads: int | None = None, num_ctx: int = 2048, **_: Any) -> Target:
    from gemmaiku.paths import file_sha256
    from gemmaiku.runtime import Engine, options_from

    if not rest:
        raise GemmaikuError(f"bad target {spec!r}: no path (write gguf:PATH/TO/model.gguf)")
    path = Path(rest).expanduser()
    if not path.is_file():
        raise GemmaikuError(f"bad target {spec!r}: no such GGUF {path} (write gguf:PATH/TO/model.gguf)")
    engine = Engine(path, options=options_from({"num_ctx": num_ctx}), n_threads=threads)
    return Target(spec, engine, lambda: {"kind": "gguf", "path": str(path.resolve()), "size": path.stat().st_size,
                                         "sha256": file_sha256(path)})


def _remote(spec: str, rest: str, *, api_key: str | None = None, **_: Any) -> Target:
    from gemmaiku.runtime.remote import remote_generator

    generator = remote_generator(spec, api_key=api_key, what="target")
    where = generator.spec
    return Target(spec, generator, lambda: {"kind": where.kind, "url": where.base, "model": where.model})


KINDS: dict[str, Callable[..., Target]] = {"gguf": _gguf, "ollama": _remote, "openai": _remote}


def parse_target(spec: str, **kw: Any) -> Target:
    """A target from ``KIND:WHERE`` (see the module doc); keyword arguments go to its kind
    (``threads``/``num_ctx`` for GGUFs, ``api_key`` for HTTP) and are ignored where unused. A
    kind opens a Target, or just a Generator (then described by its kind)."""
    kind, sep, rest = spec.partition(":")
    if not sep and spec.endswith(".gguf"):
        kind, rest = "gguf", spec
    make = KINDS.get(kind.lower()) if (sep or kind == "gguf") else None
    if make is None:
        kinds = ", ".join(f"{k}:" for k in KINDS)
        raise GemmaikuError(f"bad target {spec!r}: start it with one of {kinds} (e.g. gguf:model.gguf)")
    opened = make(spec, rest, **kw)
    return opened if isinstance(opened, Target) else Target(spec, opened, lambda: {"kind": kind})


def guarded(generator: Generator, attempts: int) -> Generator:
    """The server's guarded generator (``gemmaiku serve --guard``) around ``generator``."""
    from gemmaiku.runtime.guarded import GuardedEngine

    return GuardedEngine(generator, attempts)  # refuses a remote model with one clear line


def open_target(spec: str, *, guard: int = 0, **kw: Any) -> Target:
    """The target for ``spec``; with ``guard``, its generator guarded as the server guards it (a
    model behind a server is guarded by that server: start it with --guard)."""
    target = parse_target(spec, **kw)
    if guard > 0:
        about = target.about
        target.generator = guarded(target.generator, guard)
        target.about = lambda: {**about(), "guard": guard}
    return target
