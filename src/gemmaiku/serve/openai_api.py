"""OpenAI's chat API (/v1): what the `openai` client, Open WebUI's OpenAI connections and most
tools speak."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response, StreamingResponse

from gemmaiku.serve.registry import Registry
from gemmaiku.serve.schemas import OpenAIChatRequest
from gemmaiku.serve.streaming import resolve_turn, started

FINISH_REASONS = {"stop": "stop", "length": "length"}


def sse(obj: dict[str, Any] | str) -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


def build_router(registry: Registry) -> APIRouter:
    api = APIRouter(prefix="/v1")

    @api.get("/models")
    def models() -> dict[str, Any]:
        created = int(time.time())
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "gemmaiku"}
            for name in registry.names()
        ]}

    @api.post("/chat/completions")
    async def chat_completions(body: OpenAIChatRequest) -> Response:
        messages = [m.model_dump() for m in body.messages]
        turn = resolve_turn(registry, body.model, messages, body.ollama_options(), body.response_format)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        base = {"id": completion_id, "created": created, "model": body.model}

        def usage(last: Any) -> dict[str, int]:
            return {"prompt_tokens": last.prompt_tokens, "completion_tokens": last.generated_tokens,
                    "total_tokens": last.prompt_tokens + last.generated_tokens}

        route = {"gemmaiku_route": turn.decision.as_dict()} if turn.decision else {}
        chunks = await started(turn)
        if not body.stream:
            texts, last = [], None
            async for chunk in chunks:
                texts.append(chunk.text)
                last = chunk
            return JSONResponse(base | {
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(texts)},
                             "finish_reason": FINISH_REASONS.get(last.finish_reason, "stop")}],
                "usage": usage(last),
            } | route, headers=turn.headers())

        include_usage = bool(body.stream_options and body.stream_options.include_usage)

        def delta(content: dict[str, str], finish: str | None = None) -> dict[str, Any]:
            return base | {"object": "chat.completion.chunk",
                           "choices": [{"index": 0, "delta": content, "finish_reason": finish}]}

        async def events() -> AsyncIterator[bytes]:
            yield sse(delta({"role": "assistant", "content": ""}))
            async for chunk in chunks:
                if chunk.text:
                    yield sse(delta({"content": chunk.text}))
                if chunk.done:
                    yield sse(delta({}, FINISH_REASONS.get(chunk.finish_reason, "stop")) | route)
                    if include_usage:
                        yield sse(base | {"object": "chat.completion.chunk", "choices": [],
                                          "usage": usage(chunk)})
            yield sse("[DONE]")

        return StreamingResponse(events(), media_type="text/event-stream", headers=turn.headers())

    return api
