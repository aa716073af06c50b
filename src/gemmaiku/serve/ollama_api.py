"""Ollama's REST API: what the official `ollama` client and Open WebUI call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from gemmaiku.errors import GemmaikuError
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
from gemmaiku.serve.streaming import Turn, now_iso, resolve_turn, started

OLLAMA_COMPAT_VERSION = "0.12.6"  # the Ollama API level we speak; clients parse x.y.z
NDJSON = "application/x-ndjson"


def ndjson(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def model_row(name: str, model: Any) -> dict[str, Any]:
    if isinstance(model, ServedModel):
        details = {k: v for k, v in model.details.items() if k not in ("context_length", "parameter_count")}
        return {"name": name, "model": name, "modified_at": model.modified_at.isoformat(),
                "size": model.size, "digest": model.digest, "details": details}
    return {"name": name, "model": name, "modified_at": now_iso(), "size": 0, "digest": "",
            "details": {"format": "virtual", "family": model.family, "families": [model.family],
                        "parameter_size": "", "quantization_level": "", "parent_model": ""}}


def build_router(registry: Registry) -> APIRouter:
    api = APIRouter()

    @api.get("/", response_class=PlainTextResponse)
    @api.head("/", response_class=PlainTextResponse)
    def root() -> str:
        return "Ollama is running"

    @api.get("/api/version")
    def version() -> dict[str, str]:
        return {"version": OLLAMA_COMPAT_VERSION}

    @api.get("/api/tags")
    def tags() -> dict[str, Any]:
        return {"models": [model_row(name, model) for name, model in registry.items()]}

    @api.get("/api/ps")
    def ps() -> dict[str, Any]:
        rows = []
        for name, model in registry.items():
            if isinstance(model, ServedModel) and model.engine.loaded:
                row = model_row(name, model)
                row.update(expires_at="0001-01-01T00:00:00Z", size_vram=0,
                           context_length=model.engine.options.num_ctx)
                rows.append(row)
        return {"models": rows}

    @api.post("/api/show")
    def show(body: ModelRef) -> dict[str, Any]:
        name = body.ref()
        if not name:
            raise GemmaikuError("missing 'model' (name the model to show)")
        model = registry.get(name)
        if not isinstance(model, ServedModel):
            return {"modelfile": f"# virtual model {model.name}\n", "parameters": "", "template": "",
                    "details": model_row(model.name, model)["details"], "model_info": {},
                    "capabilities": ["completion"], "modified_at": now_iso()}
        details = model.details
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

    @api.post("/api/chat")
    async def chat(body: OllamaChatRequest) -> Response:
        messages = [m.model_dump() for m in body.messages]
        turn = resolve_turn(registry, body.model, messages, body.options, body.format)
        if not messages:  # Ollama: an empty chat loads the model and returns at once
            turn.served.engine.load()
            return JSONResponse({"model": body.model, "created_at": now_iso(),
                                 "message": {"role": "assistant", "content": ""},
                                 "done_reason": "load", "done": True})
        return await respond(turn, body.stream, key="message")

    @api.post("/api/generate")
    async def generate(body: OllamaGenerateRequest) -> Response:
        if not body.prompt:
            model = registry.get(body.model)
            if isinstance(model, ServedModel):
                model.engine.load()
            return JSONResponse({"model": body.model, "created_at": now_iso(), "response": "",
                                 "done_reason": "load", "done": True})
        messages = ([{"role": "system", "content": body.system}] if body.system else [])
        messages.append({"role": "user", "content": body.prompt})
        turn = resolve_turn(registry, body.model, messages, body.options, body.format)
        if body.raw:
            turn.prompt = body.prompt
        elif body.template:
            from gemmaiku.modelfile import render_prompt

            turn.prompt = render_prompt(body.template, turn.messages)
        return await respond(turn, body.stream, key="response")

    @api.post("/api/create")
    async def create(body: CreateRequest) -> Response:
        name = body.model or body.name
        if not name:
            raise GemmaikuError("missing 'model' (name the model to create)")
        served = create_model(registry, normalize_name(name), body)
        registry.add(served)
        statuses = ["reading model metadata", "creating model layer", "writing manifest", "success"]
        if body.stream:
            return StreamingResponse(iter(ndjson({"status": s}) for s in statuses), media_type=NDJSON)
        return JSONResponse({"status": "success"})

    @api.post("/api/copy")
    def copy(body: CopyRequest) -> Response:
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
    def delete(body: ModelRef) -> Response:
        name = body.ref()
        if not name:
            raise GemmaikuError("missing 'model' (name the model to delete)")
        registry.remove(name)
        return Response(status_code=200)

    @api.post("/api/pull")
    def pull(body: ModelRef) -> Response:
        name = body.ref() or "?"
        registry.get(name)  # 404 for unknown names: this server never downloads
        return JSONResponse({"status": "success"})

    return api


def create_model(registry: Registry, name: str, body: CreateRequest) -> ServedModel:
    """A new served model from a Modelfile text, or from `from` (a served model or a GGUF path)."""
    if body.modelfile:
        from gemmaiku.modelfile import parse_modelfile

        modelfile = parse_modelfile(body.modelfile)
        source = modelfile.from_
        if source and normalize_name(source) in registry.names():
            base = registry.get_served(source)
            modelfile.from_ = str(base.path)
        else:
            modelfile.from_ = str(registry.check_allowed(Path(source)))
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
        system = template = None
        parameters, messages = {}, []
    parameters.update(body.parameters or {})
    license_text = [body.license] if isinstance(body.license, str) else list(body.license or [])
    return served_from_gguf(
        name, path, system=body.system if body.system is not None else system,
        template=body.template if body.template is not None else template,
        parameters=parameters, license=license_text,
        messages=[m.model_dump() for m in body.messages] if body.messages else messages,
    )


async def respond(turn: Turn, stream: bool, *, key: str) -> Response:
    """Stream NDJSON lines (the default), or one JSON object when stream is false."""

    def piece(text: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": turn.requested, "created_at": now_iso()}
        body[key] = {"role": "assistant", "content": text} if key == "message" else text
        return body

    if not stream:
        texts, last = [], None
        async for chunk in await started(turn):
            texts.append(chunk.text)
            last = chunk
        final = piece("".join(texts)) | {"done": True} | turn.stats(last)
        return JSONResponse(final, headers=turn.headers())

    chunks = await started(turn)

    async def lines() -> AsyncIterator[bytes]:
        async for chunk in chunks:
            if chunk.done:
                if chunk.text:
                    yield ndjson(piece(chunk.text) | {"done": False})
                yield ndjson(piece("") | {"done": True} | turn.stats(chunk))
            elif chunk.text:
                yield ndjson(piece(chunk.text) | {"done": False})

    return StreamingResponse(lines(), media_type=NDJSON, headers=turn.headers())
