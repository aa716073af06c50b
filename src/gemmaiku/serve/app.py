"""`create_app()`: the FastAPI app behind `gemmaiku serve` (Ollama API at /api, OpenAI at /v1).

One error path: user-caused problems (GemmaikuError) answer 400, unknown models 404, oversized
bodies 413, a missing or wrong API key 401; bodies are ``{"error": "..."}`` on the Ollama side and
OpenAI's ``{"error": {"message": ..., "type": ...}}`` under /v1.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gemmaiku import __version__
from gemmaiku.errors import GemmaikuError
from gemmaiku.serve import ollama_api, openai_api
from gemmaiku.serve.registry import ModelNotFound, Registry

log = logging.getLogger("gemmaiku.serve")


@dataclass
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 11434
    api_key: str | None = None
    max_body_bytes: int = 8 * 1024 * 1024
    models_dirs: list[Path] = field(default_factory=list)


def error_response(request: Request, status: int, message: str, kind: str) -> JSONResponse:
    if request.url.path.startswith("/v1"):
        return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)
    return JSONResponse({"error": message}, status_code=status)


def validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "malformed request body"
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "malformed JSON in the request body"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    return f"invalid request: {where}: {first.get('msg', 'invalid value')}"


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLarge:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        response = JSONResponse({"error": f"request body over {self.limit} bytes"}, status_code=413)
        await response(scope, lambda: None, send)  # type: ignore[arg-type]


class BodyTooLarge(Exception):
    pass


def create_app(registry: Registry, settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    app = FastAPI(title="Gemmaiku server", version=__version__,
                  description="Ollama- and OpenAI-compatible API over llama.cpp")
    app.state.registry = registry
    app.state.settings = settings

    @app.exception_handler(ModelNotFound)
    async def not_found(request: Request, exc: ModelNotFound) -> JSONResponse:
        return error_response(request, 404, str(exc), "not_found_error")

    @app.exception_handler(GemmaikuError)
    async def bad_request(request: Request, exc: GemmaikuError) -> JSONResponse:
        return error_response(request, 400, str(exc), "invalid_request_error")

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, 400, validation_message(exc), "invalid_request_error")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "malformed request body" if exc.status_code == 400 else str(exc.detail)
        return error_response(request, exc.status_code, message, "invalid_request_error")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return error_response(request, 500, f"internal error: {exc}", "server_error")

    if settings.api_key:
        expected = f"Bearer {settings.api_key}"

        @app.middleware("http")
        async def require_key(request: Request, call_next):
            if request.url.path != "/" and not hmac.compare_digest(
                request.headers.get("authorization", ""), expected
            ):
                return error_response(request, 401, "missing or wrong API key (send Authorization: Bearer KEY)",
                                      "authentication_error")
            return await call_next(request)

    app.include_router(ollama_api.build_router(registry))
    app.include_router(openai_api.build_router(registry))
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app
