"""Bridge the engine's blocking chunk stream to asyncio, and shape chunks for each wire format."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from gemmaiku.modelfile.prompt import conversation
from gemmaiku.runtime import Chunk, GenerationOptions
from gemmaiku.runtime.grammar import format_grammar
from gemmaiku.serve.registry import Registry, RouteDecision, ServedModel

_DONE = object()
log = logging.getLogger("gemmaiku.serve")


async def iterate_in_thread(chunks: Iterator[Chunk]) -> AsyncIterator[Chunk]:
    """Pull each chunk in a worker thread; closing this (client gone) closes the generation too."""
    try:
        while True:
            chunk = await run_in_threadpool(next, chunks, _DONE)
            if chunk is _DONE:
                return
            yield chunk
    finally:
        await run_in_threadpool(chunks.close)


async def started(turn: Turn) -> AsyncIterator[Chunk]:
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

    async def with_first() -> AsyncIterator[Chunk]:
        try:
            if first is not None:
                yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()

    return with_first()


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
        if last.extra and "guard" in last.extra:
            stats["gemmaiku_guard"] = dict(last.extra["guard"])
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
