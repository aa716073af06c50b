"""Stop working for a client that has gone.

A streamed reply notices a departed client when a write fails (or when Starlette's own listener
sees the disconnect); a reply that is sent whole at the end (``stream: false``, the OpenAI
clients' default) writes nothing until then, so it must watch for the disconnect itself:
:func:`unless_gone` races the work against the client's ``http.disconnect`` and cancels the work
when the client leaves first. Cancelling a chunk stream closes it, which stops the generation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before its reply was ready (nothing is sent)."""


async def unless_gone(request: Request, work: Awaitable[T]) -> T:
    """``await work``, or cancel it and raise :class:`ClientGone` if the client leaves first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, watcher):
            if not pending.done():
                pending.cancel()
        # Let the work's own cleanup run (closing a chunk stream waits for the step in flight).
        await asyncio.wait({task, watcher})
    if task.cancelled():
        raise ClientGone
    return task.result()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


class ClosingStream(StreamingResponse):
    """A streamed reply that always runs ``on_close`` when it ends, however it ends: finished,
    client gone mid-stream, or gone before the first byte (when the body is never iterated)."""

    def __init__(self, content: Any, *, on_close: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.on_close()
