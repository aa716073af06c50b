"""Bridge the engine's blocking chunk stream to asyncio, and shape chunks for each wire format."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool

from gemmaiku.modelfile.prompt import conversation
from gemmaiku.runtime import Chunk, GenerationOptions
from gemmaiku.runtime.grammar import format_grammar
from gemmaiku.serve.registry import Registry, RouteDecision, ServedModel

_DONE = object()
log = logging.getLogger("gemmaiku.serve")


async def iterate_in_thread(chunks: Iterator[Chunk]) -> AsyncIterator[Chunk]:
    """Pull each chunk in a worker thread; closing this (client gone) closes the generation too.

    A cancelled wait (the client left) does not stop the thread's ``next``: the step in flight
    finishes first (a generator cannot be closed while it runs), then the generator is closed,
    shielded from the cancellation so that the close always happens."""
    step: asyncio.Future | None = None
    try:
        while True:
            step = asyncio.ensure_future(run_in_threadpool(next, chunks, _DONE))
            chunk = await asyncio.shield(step)
            step = None
            if chunk is _DONE:
                return
            yield chunk
    finally:
        with anyio.CancelScope(shield=True):
            if step is not None:
                await asyncio.wait({step})
                if not step.cancelled():
                    step.exception()  # retrieved: the request already ended with its own error
            await run_in_threadpool(chunks.close)


class Started:
    """The chunks of a turn, the first one already produced; ``aclose`` stops the generation
    whether or not the chunks were ever iterated (a client may leave before the first byte)."""

    def __init__(self, first: Chunk | None, rest: AsyncIterator[Chunk]) -> None:
        self.first, self.rest = first, rest

    def __aiter__(self) -> Started:
        return self

    async def __anext__(self) -> Chunk:
        if self.first is not None:
            first, self.first = self.first, None
            return first
        return await self.rest.__anext__()

    async def aclose(self) -> None:
        await self.rest.aclose()


async def started(turn: Turn) -> Started:
    """The turn's chunks with the first one already produced, so that a bad request (a prompt
    longer than the context, say) fails as a 4xx before any response header is sent."""
    chunks = iterate_in_thread(turn.stream())
    try:
        first = await chunks.__anext__()
    except StopAsyncIteration:
        first = None
    except BaseException:
        await chunks.aclose()
        raise
    return Started(first, chunks)


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def to_ns(seconds: float) -> int:
    return int(seconds * 1e9)


@dataclass
class Turn:
    """One request resolved to a served model: the conversation it sees and the options."""

    requested: str
    served: ServedModel
    messages: list[dict[str, str]]
    options: GenerationOptions
    decision: RouteDecision | None
    started: float
    grammar: str | None = None  # GBNF: a requested format, or the router's for a background task
    prompt: str | None = None  # a raw, already formatted prompt (/api/generate raw or template)

    def stream(self) -> Iterator[Chunk]:
        source = {"prompt": self.prompt} if self.prompt is not None else {"messages": self.messages}
        if self.grammar:
            return self.served.engine.stream(**source, options=self.options, grammar=self.grammar)
        return self.served.engine.stream(**source, options=self.options)

    def stats(self, last: Chunk) -> dict[str, Any]:
        """Ollama's final-chunk fields (durations in nanoseconds)."""
        stats = {
            "done_reason": last.finish_reason,
            "total_duration": to_ns(time.perf_counter() - self.started),
            "load_duration": to_ns(last.load_s),
            "prompt_eval_count": last.prompt_tokens,
            "prompt_eval_duration": to_ns(last.prompt_eval_s),
            "eval_count": last.generated_tokens,
            "eval_duration": to_ns(last.eval_s),
        }
        if self.decision is not None:
            stats["gemmaiku_route"] = self.decision.as_dict()
        if last.extra and "search" in last.extra:
            search = last.extra["search"]
            stats["gemmaiku_search"] = {
                "path": search["path"], "candidates": search["candidates"],
                "decoded_tokens": search["decoded_tokens"], "logprob": search["logprob"],
                "lines": [{k: line[k] for k in ("line", "path", "logprob", "break_logprob", "qualified")}
                          for line in search["lines"]],
            }
        return stats

    def headers(self) -> dict[str, str]:
        if self.decision is None:
            return {}
        return {
            "X-Gemmaiku-Route": self.decision.route,
            "X-Gemmaiku-Route-Model": self.decision.target,
            "X-Gemmaiku-Route-Confidence": f"{self.decision.confidence:.4f}",
        }


def resolve_turn(registry: Registry, name: str, messages: Sequence[Mapping[str, str]],
                 options: Mapping[str, Any] | None, response_format: Any = None) -> Turn:
    started = time.perf_counter()
    model = registry.get(name)
    decision = None
    grammar = format_grammar(response_format)
    merged = dict(options or {})
    if not isinstance(model, ServedModel):
        decision = model.choose(messages)
        model = registry.get_served(decision.target)
        log.info("%s routed to %s (%s, confidence %.3f)", name, decision.target, decision.route, decision.confidence)
        if decision.grammar and not grammar:
            grammar = decision.grammar
            merged = {**merged, **decision.options}
    return Turn(
        requested=name, served=model,
        messages=conversation(messages, system=model.system, history=model.messages),
        options=model.engine.options.merged(merged), decision=decision, started=started, grammar=grammar,
    )
