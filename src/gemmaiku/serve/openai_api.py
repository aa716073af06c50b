"""OpenAI's chat API (/v1): what the `openai` client, Open WebUI's OpenAI connections and most
tools speak."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from gemmaiku.serve.admission import Admission
from gemmaiku.serve.door import checked_route
from gemmaiku.serve.flow import begin, prepare, streamed, tool_headers, whole
from gemmaiku.serve.limits import Limits
from gemmaiku.serve.registry import Registry
from gemmaiku.serve.schemas import OpenAIChatRequest, refuse_unsupported

FINISH_REASONS = {"stop": "stop", "length": "length"}


def sse(obj: dict[str, Any] | str) -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


def error_event(message: str) -> bytes:
    return sse({"error": {"message": message, "type": "server_error"}})


def build_router(registry: Registry, limits: Limits, admission: Admission) -> APIRouter:
    api = APIRouter(prefix="/v1", route_class=checked_route(limits))

    @api.get("/models")
    async def models() -> dict[str, Any]:
        created = int(time.time())
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "gemmaiku"}
            for name in registry.names()
        ]}

    @api.post("/chat/completions")
    async def chat_completions(body: OpenAIChatRequest, request: Request) -> Response:
        refuse_unsupported(body)
        messages = [m.model_dump() for m in body.messages]
        turn = await prepare(registry, limits, body.model, messages, body.ollama_options(), body.response_format)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        base = {"id": completion_id, "created": created, "model": body.model}
        headers = {**turn.headers(), **tool_headers(body.tools)}

        def usage(last: Any) -> dict[str, int]:
            return {"prompt_tokens": last.prompt_tokens, "completion_tokens": last.generated_tokens,
                    "total_tokens": last.prompt_tokens + last.generated_tokens}

        route = {"gemmaiku_route": turn.decision.as_dict()} if turn.decision else {}
        reply = await begin(request, turn, admission)
        if not body.stream:
            text, last = await whole(request, reply)
            return JSONResponse(base | {
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": FINISH_REASONS.get(last.finish_reason, "stop")}],
                "usage": usage(last),
            } | route, headers=headers)

        include_usage = bool(body.stream_options and body.stream_options.include_usage)

        def delta(content: dict[str, str], finish: str | None = None) -> dict[str, Any]:
            return base | {"object": "chat.completion.chunk",
                           "choices": [{"index": 0, "delta": content, "finish_reason": finish}]}

        async def events() -> AsyncIterator[bytes]:
            yield sse(delta({"role": "assistant", "content": ""}))
            async for chunk in reply.chunks:
                if chunk.text:
                    yield sse(delta({"content": chunk.text}))
                if chunk.done:
                    yield sse(delta({}, FINISH_REASONS.get(chunk.finish_reason, "stop")) | route)
                    if include_usage:
                        yield sse(base | {"object": "chat.completion.chunk", "choices": [],
                                          "usage": usage(chunk)})
            yield sse("[DONE]")

        return streamed(reply, events(), error_event, media_type="text/event-stream", headers=headers)

    return api
