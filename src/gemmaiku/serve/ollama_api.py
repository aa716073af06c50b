"""Ollama's REST API: what the official `ollama` client and Open WebUI call.

Every route is async and moves blocking work (GGUF headers, digests, Modelfile parses, template
checks, model loads) to worker threads (serve.limits.off_loop), so /api/version answers however
busy the rest of the server is.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from gemmaiku.errors import GemmaikuError
from gemmaiku.serve.admission import Admission
from gemmaiku.serve.checks import check_gguf, check_model_template, refuse_unsupported
from gemmaiku.serve.door import checked_route
from gemmaiku.serve.flow import begin, load_only, prepare, streamed, tool_headers, whole
from gemmaiku.serve.limits import Limits, check_modelfile, off_loop
from gemmaiku.serve.registry import (
    Registry,
    ServedModel,
    normalize_name,
    parameter_lines,
    served_from_gguf,
    served_from_modelfile_object,
)
from gemmaiku.serve.schemas import (
    CopyRequest,
    CreateRequest,
    ModelRef,
    OllamaChatRequest,
    OllamaGenerateRequest,
)
from gemmaiku.serve.schemas import refuse_unsupported as refuse_unsupported_fields
from gemmaiku.serve.streaming import Turn, now_iso

OLLAMA_COMPAT_VERSION = "0.12.6"  # the Ollama API level we speak; clients parse x.y.z
NDJSON = "application/x-ndjson"
log = logging.getLogger("gemmaiku.serve")


def ndjson(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def error_line(message: str) -> bytes:
    return ndjson({"error": message})  # Ollama's way to report an error mid-stream


def model_row(name: str, model: Any) -> dict[str, Any]:
    if isinstance(model, ServedModel):
        details = {k: v for k, v in model.details.items() if k not in ("context_length", "parameter_count")}
        return {"name": name, "model": name, "modified_at": model.modified_at.isoformat(),
                "size": model.size, "digest": model.digest, "details": details}
    return {"name": name, "model": name, "modified_at": now_iso(), "size": 0, "digest": "",
            "details": {"format": "virtual", "family": model.family, "families": [model.family],
                        "parameter_size": "", "quantization_level": "", "parent_model": ""}}


def safe_row(name: str, model: Any) -> dict[str, Any]:
    """A model's row; a model whose file went bad is listed as unreadable, never an error for
    the whole list (one bad row once made /api/tags answer 400 for everybody)."""
    try:
        return model_row(name, model)
    except (GemmaikuError, OSError, ValueError, TypeError) as exc:
        log.warning("/api/tags: %s cannot be read: %s", name, exc)
        return {"name": name, "model": name, "modified_at": now_iso(), "size": 0, "digest": "",
                "details": {"format": "gguf", "family": "unreadable", "families": [], "parameter_size": "",
                            "quantization_level": "", "parent_model": ""}}


def model_rows(registry: Registry) -> list[dict[str, Any]]:
    return [safe_row(name, model) for name, model in registry.items()]


def loaded_rows(registry: Registry) -> list[dict[str, Any]]:
    rows = []
    for name, model in registry.items():
        if isinstance(model, ServedModel) and model.engine.loaded:
            row = safe_row(name, model)
            row.update(expires_at="0001-01-01T00:00:00Z", size_vram=0,
                       context_length=model.engine.options.num_ctx)
            if hasattr(model.engine, "counts"):  # requests decoding and waiting, sequences free
                row["gemmaiku_slots"] = model.engine.counts()
            rows.append(row)
    return rows


def show_model(model: Any) -> dict[str, Any]:
    if not isinstance(model, ServedModel):
        return {"modelfile": f"# virtual model {model.name}\n", "parameters": "", "template": "",
                "details": model_row(model.name, model)["details"], "model_info": {},
                "capabilities": ["completion"], "modified_at": now_iso()}
    try:
        details = model.details
    except (OSError, ValueError, TypeError) as exc:  # a file that went bad after it was created
        raise GemmaikuError(f"{model.name}: its GGUF cannot be read ({exc})") from None
    family = details["family"]
    return {
        "license": "\n".join(model.license),
        "modelfile": model.modelfile_text(),
        "parameters": "\n".join(line.removeprefix("PARAMETER ") for line in parameter_lines(model.parameters)),
        "template": model.template or "",
        "system": model.system or "",
        "details": {k: v for k, v in details.items() if k not in ("context_length", "parameter_count")},
        "model_info": {
            "general.architecture": family,
            "general.parameter_count": details["parameter_count"],
            f"{family}.context_length": details["context_length"],
        },
        "capabilities": ["completion"],
        "modified_at": model.modified_at.isoformat(),
    }


def build_router(registry: Registry, limits: Limits, admission: Admission) -> APIRouter:
    api = APIRouter(route_class=checked_route(limits))

    @api.get("/", response_class=PlainTextResponse)
    @api.head("/", response_class=PlainTextResponse)
    async def root() -> str:
        return "Ollama is running"

    @api.get("/api/version")
    async def version() -> dict[str, str]:
        return {"version": OLLAMA_COMPAT_VERSION}

    @api.get("/api/tags")
    async def tags() -> dict[str, Any]:
        return {"models": await off_loop(model_rows, registry)}

    @api.get("/api/ps")
    async def ps() -> dict[str, Any]:
        return {"models": await off_loop(loaded_rows, registry)}

    @api.post("/api/show")
    async def show(body: ModelRef) -> dict[str, Any]:
        name = body.ref()
        if not name:
            raise GemmaikuError("missing 'model' (name the model to show)")
        return await off_loop(show_model, registry.get(name))

    @api.post("/api/chat")
    async def chat(body: OllamaChatRequest, request: Request) -> Response:
        refuse_unsupported_fields(body)
        messages = [m.model_dump() for m in body.messages]
        turn = await prepare(registry, limits, body.model, messages, body.options, body.format)
        if not messages:  # Ollama: an empty chat loads (or, with keep_alive 0, unloads) the model
            reason = await load_only(turn.requested, turn.served, admission, body.keep_alive)
            return JSONResponse({"model": body.model, "created_at": now_iso(),
                                 "message": {"role": "assistant", "content": ""},
                                 "done_reason": reason, "done": True})
        return await respond(request, turn, admission, body.stream, key="message", keep_alive=body.keep_alive,
                             headers=tool_headers(body.tools))

    @api.post("/api/generate")
    async def generate(body: OllamaGenerateRequest, request: Request) -> Response:
        refuse_unsupported_fields(body)
        if not body.prompt:
            model = registry.get(body.model)
            reason = "load"
            if isinstance(model, ServedModel):
                reason = await load_only(model.name, model, admission, body.keep_alive)
            return JSONResponse({"model": body.model, "created_at": now_iso(), "response": "",
                                 "done_reason": reason, "done": True})
        messages = ([{"role": "system", "content": body.system}] if body.system else [])
        messages.append({"role": "user", "content": body.prompt})
        turn = await prepare(registry, limits, body.model, messages, body.options, body.format,
                             template=body.template, raw_prompt=body.prompt if body.raw else None)
        return await respond(request, turn, admission, body.stream, key="response", keep_alive=body.keep_alive)

    @api.post("/api/create")
    async def create(body: CreateRequest) -> Response:
        refuse_unsupported_fields(body)
        name = body.model or body.name
        if not name:
            raise GemmaikuError("missing 'model' (name the model to create)")
        served = await off_loop(create_model, registry, normalize_name(name), body, limits)
        registry.add(served)
        statuses = ["reading model metadata", "creating model layer", "writing manifest", "success"]
        if body.stream:
            return StreamingResponse(iter(ndjson({"status": s}) for s in statuses), media_type=NDJSON)
        return JSONResponse({"status": "success"})

    @api.post("/api/copy")
    async def copy(body: CopyRequest) -> Response:
        source = registry.get(body.source)
        if not isinstance(source, ServedModel):
            raise GemmaikuError("virtual models cannot be copied")
        registry.add(ServedModel(
            name=body.destination, path=source.path, engine=source.engine, system=source.system,
            template=source.template, parameters=dict(source.parameters), license=list(source.license),
            messages=list(source.messages),
        ))
        return Response(status_code=200)

    @api.delete("/api/delete")
    async def delete(body: ModelRef) -> Response:
        name = body.ref()
        if not name:
            raise GemmaikuError("missing 'model' (name the model to delete)")
        await off_loop(registry.remove, name)  # unloads the engine when no other name uses it
        return Response(status_code=200)

    @api.post("/api/pull")
    async def pull(body: ModelRef) -> Response:
        name = body.ref() or "?"
        registry.get(name)  # 404 for unknown names: this server never downloads
        return JSONResponse({"status": "success"})

    return api


def create_model(registry: Registry, name: str, body: CreateRequest, limits: Limits) -> ServedModel:
    """A new served model from a Modelfile text, or from `from` (a served model or a GGUF path).

    Runs in a worker thread. Everything is checked before the model is accepted: the Modelfile's
    size and instructions, the GGUF's header, the TEMPLATE (parsed and tried on a conversation)."""
    if body.modelfile:
        from gemmaiku.modelfile import parse_modelfile

        check_modelfile(body.modelfile, limits)
        modelfile = parse_modelfile(body.modelfile)
        refuse_unsupported(modelfile)
        source = modelfile.from_
        if source and normalize_name(source) in registry.names():
            modelfile.from_ = str(registry.get_served(source).path)
        else:
            path = registry.check_allowed(Path(source))
            if path.is_file():
                check_gguf(path)
            modelfile.from_ = str(path)
        check_model_template(modelfile.template, limits)
        return served_from_modelfile_object(name, modelfile)
    if not body.from_:
        raise GemmaikuError("missing 'from' (a served model name or a GGUF path in the model folders)")
    if normalize_name(body.from_) in registry.names():
        base = registry.get_served(body.from_)
        path, system, template = base.path, base.system, base.template
        parameters = dict(base.parameters)
        messages = list(base.messages)
    else:
        path = registry.check_allowed(Path(body.from_))
        if not path.is_file():
            raise GemmaikuError(f"from {body.from_}: no such GGUF file")
        check_gguf(path)
        system = template = None
        parameters, messages = {}, []
    parameters.update(body.parameters or {})
    template = body.template if body.template is not None else template
    check_model_template(template, limits)
    license_text = [body.license] if isinstance(body.license, str) else list(body.license or [])
    return served_from_gguf(
        name, path, system=body.system if body.system is not None else system, template=template,
        parameters=parameters, license=license_text,
        messages=[m.model_dump() for m in body.messages] if body.messages else messages,
    )


async def respond(request: Request, turn: Turn, admission: Admission, stream: bool, *, key: str,
                  keep_alive: Any = None, headers: dict[str, str] | None = None) -> Response:
    """Stream NDJSON lines (the default), or one JSON object when stream is false."""
    headers = {**turn.headers(), **(headers or {})}

    def piece(text: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": turn.requested, "created_at": now_iso()}
        body[key] = {"role": "assistant", "content": text} if key == "message" else text
        return body

    reply = await begin(request, turn, admission, keep_alive)
    if not stream:
        text, last = await whole(request, reply)
        return JSONResponse(piece(text) | {"done": True} | turn.stats(last), headers=headers)

    async def lines():
        async for chunk in reply.chunks:
            if chunk.done:
                if chunk.text:
                    yield ndjson(piece(chunk.text) | {"done": False})
                yield ndjson(piece("") | {"done": True} | turn.stats(chunk))
            elif chunk.text:
                yield ndjson(piece(chunk.text) | {"done": False})

    return streamed(reply, lines(), error_line, media_type=NDJSON, headers=headers)
