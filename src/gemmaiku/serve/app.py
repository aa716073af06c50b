"""`create_app()`: the FastAPI app behind `gemmaiku serve` (Ollama API at /api, OpenAI at /v1).

One error path: anything a client sent that cannot be served answers 4xx (GemmaikuError and bad
bodies 400, a budget exceeded 400 naming the limit, unknown models 404, a slow body 408, an
oversized body 413, a missing or wrong API key 401, a full model queue 503 with Retry-After);
anything else is a 500 whose body says "internal error" with an id the log carries (serve.door).
Bodies are ``{"error": "..."}`` on the Ollama side and OpenAI's ``{"error": {"message", "type",
"code"}}`` under /v1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gemmaiku import __version__
from gemmaiku.errors import GemmaikuError
from gemmaiku.runtime.batch import Busy
from gemmaiku.serve import ollama_api, openai_api
from gemmaiku.serve.admission import Admission, ServerBusy
from gemmaiku.serve.disconnect import ClientGone
from gemmaiku.serve.door import Door, error_response
from gemmaiku.serve.limits import Limits
from gemmaiku.serve.registry import ModelNotFound, Registry

log = logging.getLogger("gemmaiku.serve")

# FastAPI's own text for a body it could not read; ours says what to fix.
FASTAPI_BODY_ERROR = "There was an error parsing the body"
RETRY_AFTER_S = 1  # a full queue (503): a short reply frees a place within about a second


@dataclass
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 11434
    api_key: str | None = None
    max_body_bytes: int = 8 * 1024 * 1024
    models_dirs: list[Path] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)


def validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "malformed request body"
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "malformed JSON in the request body"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"invalid request: {where}: {message}"


def create_app(registry: Registry, settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    app = FastAPI(title="Gemmaiku server", version=__version__,
                  description="Ollama- and OpenAI-compatible API over llama.cpp")
    admission = Admission(settings.limits)
    app.state.registry, app.state.settings, app.state.admission = registry, settings, admission

    @app.exception_handler(ModelNotFound)
    async def not_found(request: Request, exc: ModelNotFound) -> JSONResponse:
        return error_response(request.url.path, 404, str(exc), "not_found_error")

    @app.exception_handler(ServerBusy)
    @app.exception_handler(Busy)
    async def busy(request: Request, exc: GemmaikuError) -> JSONResponse:
        response = error_response(request.url.path, 503, str(exc), "server_busy")
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    @app.exception_handler(GemmaikuError)
    async def bad_request(request: Request, exc: GemmaikuError) -> JSONResponse:
        return error_response(request.url.path, 400, str(exc), "invalid_request_error")

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request.url.path, 400, validation_message(exc), "invalid_request_error")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "malformed request body" if exc.detail == FASTAPI_BODY_ERROR else str(exc.detail)
        return error_response(request.url.path, exc.status_code, message, "invalid_request_error")

    @app.exception_handler(ClientGone)
    async def gone(request: Request, exc: ClientGone) -> Response:
        log.info("%s: the client went away; its generation was stopped", request.url.path)
        return Response(status_code=499)  # nginx's "client closed request": nobody reads it

    app.include_router(ollama_api.build_router(registry, settings.limits, admission))
    app.include_router(openai_api.build_router(registry, settings.limits, admission))
    app.add_middleware(Door, max_body_bytes=settings.max_body_bytes, limits=settings.limits,
                       api_key=settings.api_key)
    return app
