"""A generation request's way through the server, shared by the Ollama and OpenAI routes:

1. :func:`prepare` (in a worker thread, within budgets): the response format checked and built
   into a grammar, the turn resolved (a router may choose the model), a request template rendered;
2. :func:`begin`: admitted to the model's queue (503 when full, other models unloaded over the
   cap), the first chunk produced while watching for the client leaving;
3. :func:`whole` (``stream: false``) or :func:`streamed`: the rest, and in every case the chunk
   stream closed (which stops the generation) and the admission ticket given back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from gemmaiku.errors import GemmaikuError
from gemmaiku.runtime import Chunk
from gemmaiku.serve.admission import Admission, Ticket, keep_alive_seconds
from gemmaiku.serve.disconnect import ClosingStream, unless_gone
from gemmaiku.serve.door import internal_message, log_internal
from gemmaiku.serve.limits import Limits, check_grammar, check_schema, check_template, off_loop
from gemmaiku.serve.registry import Registry, ServedModel
from gemmaiku.serve.streaming import Started, Turn, resolve_turn, started

log = logging.getLogger("gemmaiku.serve")

# Said in a response header when a request offered tools: the models served here cannot call
# them, so the reply is the model's own text (as a tool-capable model may also choose). A request
# that insists on a call (OpenAI's tool_choice "required") is refused instead.
TOOLS_HEADER = "X-Gemmaiku-Tools"


def tool_headers(tools: Sequence[Any] | None) -> dict[str, str]:
    if not tools:
        return {}
    return {TOOLS_HEADER: f"not offered to the model: it cannot call tools ({len(tools)} ignored)"}


async def prepare(registry: Registry, limits: Limits, name: str, messages: Sequence[Mapping[str, Any]],
                  options: Mapping[str, Any] | None, response_format: Any, *,
                  template: str | None = None, raw_prompt: str | None = None) -> Turn:
    return await off_loop(_prepare, registry, limits, name, messages, options, response_format,
                          template, raw_prompt)


def _prepare(registry: Registry, limits: Limits, name: str, messages: Sequence[Mapping[str, Any]],
             options: Mapping[str, Any] | None, response_format: Any, template: str | None,
             raw_prompt: str | None) -> Turn:
    from gemmaiku.runtime.grammar import ollama_format

    wanted = ollama_format(response_format)
    if isinstance(wanted, dict):
        check_schema(wanted, limits)
    turn = resolve_turn(registry, name, messages, options, response_format)
    check_grammar(turn.grammar, limits)
    if raw_prompt is not None:
        turn.prompt = raw_prompt
    elif template:
        from gemmaiku.modelfile import render_prompt

        check_template(template, limits)
        turn.prompt = render_prompt(template, turn.messages)
    return turn


@dataclass
class Reply:
    """A started generation: its chunks and the admission ticket it holds."""

    chunks: Started
    ticket: Ticket
    admission: Admission

    async def close(self) -> None:
        try:
            await self.chunks.aclose()
        finally:
            await self.admission.leave(self.ticket)


async def begin(request: Request, turn: Turn, admission: Admission, keep_alive: Any = None) -> Reply:
    ticket = await admission.enter(turn.requested, turn.served.engine, keep_alive=keep_alive)
    try:
        chunks = await unless_gone(request, started(turn))
    except BaseException:
        await admission.leave(ticket)
        raise
    return Reply(chunks, ticket, admission)


async def whole(request: Request, reply: Reply) -> tuple[str, Chunk]:
    """The whole reply, for ``stream: false``; a client that leaves first stops it."""
    try:
        return await unless_gone(request, _gather(reply.chunks))
    finally:
        await reply.close()


async def _gather(chunks: AsyncIterator[Chunk]) -> tuple[str, Chunk]:
    texts: list[str] = []
    last: Chunk | None = None
    async for chunk in chunks:
        texts.append(chunk.text)
        last = chunk
    if last is None or not last.done:
        raise RuntimeError("the generator ended without a final chunk")
    return "".join(texts), last


def streamed(reply: Reply, body: AsyncIterator[bytes], error_event: Callable[[str], bytes], *,
             media_type: str, headers: Mapping[str, str]) -> ClosingStream:
    """A streamed reply; an error after the first byte becomes one last ``error_event``."""

    async def events() -> AsyncIterator[bytes]:
        try:
            async for data in body:
                yield data
        except GemmaikuError as exc:
            yield error_event(str(exc))
        except Exception as exc:  # the status line is sent: tell the client in the stream
            yield error_event(internal_message(log_internal(exc, "a streamed reply")))

    return ClosingStream(events(), on_close=reply.close, media_type=media_type, headers=dict(headers))


async def load_only(name: str, served: ServedModel, admission: Admission, keep_alive: Any = None) -> str:
    """Ollama's empty request: load the model (through the admission, like any request), or
    unload it when ``keep_alive`` is 0; returns the ``done_reason`` ("load" or "unload")."""
    if keep_alive_seconds(keep_alive) == 0:
        await admission.unload(served.engine)
        return "unload"
    ticket = await admission.enter(name, served.engine, keep_alive=keep_alive)
    try:
        await off_loop(served.engine.load)
    finally:
        await admission.leave(ticket)
    return "load"
