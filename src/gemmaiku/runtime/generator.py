"""The one interface every text generator implements: local llama.cpp engines, search decoding,
remote models and test fakes.

A :class:`Generator` streams :class:`Chunk` objects for a conversation (or a raw, already
formatted prompt); the last chunk carries ``finish_reason`` and the timings Ollama reports.
Everything else (the server, the router, evaluation, the CLI) talks to this protocol only, and
:func:`collect` turns a stream into a plain :class:`Result`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from gemmaiku.runtime.options import GenerationOptions

Messages = Sequence[Mapping[str, str]]


@dataclass(frozen=True)
class Chunk:
    """New text from the model; the last chunk of a stream has ``finish_reason`` set."""

    text: str
    prompt_tokens: int
    generated_tokens: int
    finish_reason: str | None = None  # "stop" (end of turn or a stop string) or "length"
    load_s: float = 0.0
    prompt_eval_s: float = 0.0
    eval_s: float = 0.0
    extra: Mapping[str, Any] | None = None  # e.g. search decoding's path and scores, on the last chunk

    @property
    def done(self) -> bool:
        return self.finish_reason is not None


@dataclass(frozen=True)
class Result:
    text: str
    prompt_tokens: int
    generated_tokens: int
    finish_reason: str
    load_s: float
    prompt_eval_s: float
    eval_s: float
    extra: Mapping[str, Any] | None = None

    @property
    def tokens_per_second(self) -> float:
        return self.generated_tokens / self.eval_s if self.eval_s > 0 else 0.0


@runtime_checkable
class Generator(Protocol):
    """A model that streams replies. ``options`` are its defaults (a Modelfile's PARAMETERs);
    ``stream(options=...)`` overrides them per request. ``grammar`` is GBNF text that constrains
    decoding (a generator that cannot honour it must raise GemmaikuError, never drop it).
    Closing the iterator early (a client that went away) stops the generation."""

    options: GenerationOptions

    @property
    def loaded(self) -> bool: ...

    def load(self) -> float:
        """Load if needed; return the seconds this call spent loading."""
        ...

    def unload(self) -> None: ...

    def stream(
        self,
        messages: Messages | None = None,
        *,
        prompt: str | None = None,
        options: GenerationOptions | None = None,
        grammar: str | None = None,
    ) -> Iterator[Chunk]: ...


def collect(chunks: Iterable[Chunk]) -> Result:
    """The whole reply of a chunk stream (which must end with a finished chunk)."""
    pieces: list[str] = []
    last: Chunk | None = None
    for chunk in chunks:
        pieces.append(chunk.text)
        last = chunk
    if last is None or last.finish_reason is None:
        raise RuntimeError("the generator ended without a final chunk")
    return Result(
        "".join(pieces), last.prompt_tokens, last.generated_tokens, last.finish_reason,
        last.load_s, last.prompt_eval_s, last.eval_s, last.extra,
    )


def generate(generator: Generator, messages: Messages | None = None, **kwargs: Any) -> Result:
    """The plain function on top of a generator's stream."""
    return collect(generator.stream(messages, **kwargs))
