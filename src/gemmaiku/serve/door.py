"""The server's door: what every request passes before a route sees it, and the one error path.

- :class:`Door` (ASGI middleware): the API key (compared as bytes, so any header is a 401, never
  a crash); the whole body read under a size limit (413, declared or chunked) and a deadline
  (408); a JSON content type assumed where a client sent none or a form type (``curl -d``, as
  Ollama accepts); and the catch-all: an unexpected exception becomes a 500 whose body says
  "internal error" with an id, logged once on one line with that id, never the exception text.
- :func:`checked_route`: request bodies parsed in a worker thread, then checked for what JSON
  allows and Python text cannot carry (a lone surrogate such as ``"\\ud800"``) and for nesting
  depth, answered 400 at the door instead of failing deep inside a model.
- :func:`server_config`: uvicorn with a header read timeout (a half-sent request is closed).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from fastapi import HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gemmaiku.serve.limits import Limits, off_loop

log = logging.getLogger("gemmaiku.serve")

BODY_METHODS = (b"POST", b"PUT", b"PATCH", b"DELETE")
JSON_TYPES = (b"application/json", b"application/x-ndjson")


def error_response(path: str, status: int, message: str, kind: str) -> JSONResponse:
    """An error body in the API's own shape: Ollama's ``{"error": "..."}``, OpenAI's object."""
    if path.startswith("/v1"):
        return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)
    return JSONResponse({"error": message}, status_code=status)


def log_internal(exc: BaseException, where: str) -> str:
    """Log an unexpected exception once, on one line with its last frames; return its id."""
    error_id = secrets.token_hex(4)
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    at = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    log.error("internal error %s on %s: %s: %s (at %s)", error_id, where, type(exc).__name__, exc, at)
    return error_id


def internal_message(error_id: str) -> str:
    return f"internal error (id {error_id}; the server log has the details)"


class Refused(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


class Door:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, limits: Limits, api_key: str | None) -> None:
        self.app, self.max_body_bytes, self.limits = app, max_body_bytes, limits
        self.expected = f"Bearer {api_key}".encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        answered = False

        async def tracked(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        try:
            self.check_key(scope)
            body = await self.read_body(scope, receive)
            await self.app(with_json_type(scope, body), replay(body, receive), tracked)
        except Refused as refusal:
            if not answered:
                await error_response(path, refusal.status, refusal.message, refusal.kind)(scope, receive, send)
        except Exception as exc:  # the catch-all: nothing else in the app handles these
            error_id = log_internal(exc, f"{scope.get('method')} {path}")
            if not answered:
                await error_response(path, 500, internal_message(error_id), "server_error")(scope, receive, send)

    def check_key(self, scope: Scope) -> None:
        if self.expected is None or scope.get("path") == "/":
            return
        sent = next((value for name, value in scope.get("headers") or [] if name == b"authorization"), b"")
        if not hmac.compare_digest(sent, self.expected):
            raise Refused(401, "missing or wrong API key (send Authorization: Bearer KEY)", "authentication_error")

    async def read_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise Refused(413, self.too_large())
        chunks: list[bytes] = []
        size = 0
        try:
            with anyio.fail_after(self.limits.body_timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise Refused(400, "the client went away before sending the whole body")
                    size += len(message.get("body", b""))
                    if size > self.max_body_bytes:
                        raise Refused(413, self.too_large())
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body"):
                        return b"".join(chunks)
        except TimeoutError:
            raise Refused(408, f"the request body took over {self.limits.body_timeout_s:g} s to arrive") from None

    def too_large(self) -> str:
        return f"request body over the limit of {self.max_body_bytes} bytes (--max-body)"


def with_json_type(scope: Scope, body: bytes) -> Scope:
    """Ollama reads every body as JSON whatever its content type; so does this server."""
    if not body or scope.get("method", "").encode() not in BODY_METHODS:
        return scope
    headers = [(name, value) for name, value in scope.get("headers") or [] if name != b"content-type"]
    kept = dict(scope.get("headers") or []).get(b"content-type", b"").split(b";")[0].strip().lower()
    if kept in JSON_TYPES or kept.endswith(b"+json"):
        return scope
    return {**scope, "headers": [*headers, (b"content-type", b"application/json")]}


def replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, then the client's own messages (so a disconnect is still seen)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


# -- JSON bodies --------------------------------------------------------------------------------
def parse_body(body: bytes, max_depth: int) -> Any:
    """The JSON of a request body, refusing what a model or a file name cannot take."""
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        raise  # FastAPI answers it as "malformed JSON"
    except RecursionError:
        raise HTTPException(400, f"the request body nests deeper than {max_depth} levels") from None
    except UnicodeDecodeError:
        raise HTTPException(400, "the request body is not UTF-8 text (send JSON in UTF-8)") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise HTTPException(400, f"malformed JSON in the request body: {exc}") from None
    check_json(value, max_depth)
    return value


def check_json(value: Any, max_depth: int) -> None:
    """Every string (and key) must be text Python can encode: JSON allows a lone surrogate
    escape such as ``"\\ud800"``, UTF-8 does not."""
    stack = [(value, "body", 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > max_depth:
            raise HTTPException(400, f"the request body nests deeper than {max_depth} levels")
        if isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, f"{where} key")
                stack.append((child, f"{where}.{key}", depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start].encode("unicode_escape").decode()
        shown = where.encode("ascii", "backslashreplace").decode()[:80]
        raise HTTPException(
            400, f"{shown}: a lone surrogate {bad} is not text (send characters as UTF-8 or as surrogate pairs)"
        ) from None


class CheckedRequest(Request):
    """A request whose JSON body is parsed in a worker thread and checked (see parse_body)."""

    max_depth = Limits.json_depth

    async def json(self) -> Any:
        if not hasattr(self, "_checked_json"):
            self._checked_json = await off_loop(parse_body, await self.body(), self.max_depth)
        return self._checked_json


def checked_route(limits: Limits) -> type[APIRoute]:
    """FastAPI's route with :class:`CheckedRequest` bodies (the documented custom-request hook)."""

    class Checked(CheckedRequest):
        max_depth = limits.json_depth

    class CheckedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Any]:
            handler = super().get_route_handler()

            async def checked(request: Request) -> Response:
                return await handler(Checked(request.scope, request.receive))

            return checked

    return CheckedRoute


# -- uvicorn ------------------------------------------------------------------------------------
def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, closing a connection whose request headers have not all arrived
    ``seconds`` after it opened (or after its last reply). uvicorn has no such timeout: a client
    that sends half a request line holds its connection open for ever."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.arm_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self.arm_header_timer()

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:
                self.disarm_header_timer()  # the request line and headers are in

        def connection_lost(self, exc: Exception | None) -> None:
            self.disarm_header_timer()
            super().connection_lost(exc)

        def arm_header_timer(self) -> None:
            self.disarm_header_timer()
            if not self.transport.is_closing():
                self.header_timer = self.loop.call_later(seconds, self.headers_timed_out)

        def disarm_header_timer(self) -> None:
            if self.header_timer is not None:
                self.header_timer.cancel()
                self.header_timer = None

        def headers_timed_out(self) -> None:
            self.header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutProtocol


def server_config(app: Any, host: str, port: int, limits: Limits, **kwargs: Any) -> Any:
    """The uvicorn.Config every server here runs with (``gemmaiku serve`` and the tests)."""
    import uvicorn

    kwargs.setdefault("log_level", "warning")
    return uvicorn.Config(app, host=host, port=port, http=header_timeout_protocol(limits.header_timeout_s),
                          **kwargs)
