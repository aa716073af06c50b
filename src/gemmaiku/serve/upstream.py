"""Serve a model that lives on another server (any Ollama or OpenAI-compatible URL) under a local
name, so the router can send prose to a bigger model elsewhere: `prose=ollama:http://host:11434/llama3.2`.

An :class:`UpstreamEngine` has the Engine interface the server uses (``stream`` yielding Chunks,
``options``, ``load``/``unload``) and relays the upstream stream chunk by chunk.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemmaiku.errors import GemmaikuError
from gemmaiku.runtime import Chunk, GenerationOptions
from gemmaiku.runtime.prompt import Messages
from gemmaiku.serve.registry import ServedModel

# Ollama option -> OpenAI request field, for OpenAI-style upstreams.
OPENAI_FIELDS = {"temperature": "temperature", "top_p": "top_p", "seed": "seed", "num_predict": "max_tokens",
                 "stop": "stop", "presence_penalty": "presence_penalty", "frequency_penalty": "frequency_penalty"}
API_KINDS = ("ollama", "openai")


def parse_upstream(spec: str) -> tuple[str, str, str]:
    """`ollama:http://host:11434/MODEL` or `openai:http://host/v1/MODEL` -> (kind, base URL, model)."""
    kind, sep, rest = spec.partition(":")
    if kind not in API_KINDS or not sep or "://" not in rest:
        raise GemmaikuError(f"bad upstream {spec!r} (write ollama:http://HOST:PORT/MODEL or openai:http://HOST/v1/MODEL)")
    scheme, _, after = rest.partition("://")
    host, slash, path = after.partition("/")
    if kind == "openai":
        root, marker, model = path.partition("v1/")
        base = f"{scheme}://{host}/{root}v1"
    else:
        model, base = path, f"{scheme}://{host}"
    if not slash or not model:
        raise GemmaikuError(f"bad upstream {spec!r}: no model name after the URL")
    return kind, base, model


@dataclass
class UpstreamEngine:
    kind: str
    base: str
    model: str
    api_key: str | None = None
    options: GenerationOptions = field(default_factory=GenerationOptions)
    loaded: bool = True

    def load(self) -> float:
        return 0.0

    def unload(self) -> None:
        pass

    def stream(self, messages: Messages | None = None, *, prompt: str | None = None,
               options: GenerationOptions | None = None, grammar: str | None = None) -> Iterator[Chunk]:
        # grammar: the upstream server decodes on its own terms; a GBNF text cannot be relayed.
        import httpx

        if messages is None:
            raise GemmaikuError("an upstream model takes chat messages, not a raw prompt")
        options = options or self.options
        url, body = self.request(messages, options)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        started = time.perf_counter()
        try:
            with httpx.stream("POST", url, json=body, headers=headers, timeout=httpx.Timeout(600, connect=10)) as r:
                if r.status_code >= 400:
                    r.read()
                    raise GemmaikuError(f"upstream {url} answered {r.status_code}: {r.text[:200]}")
                parse = self._ollama_lines if self.kind == "ollama" else self._openai_events
                yield from parse(r.iter_lines(), started)
        except httpx.HTTPError as exc:
            raise GemmaikuError(f"cannot reach upstream {url}: {exc}") from None

    def request(self, messages: Messages, options: GenerationOptions) -> tuple[str, dict[str, Any]]:
        values = {k: v for k, v in options.model_dump().items() if v not in (None, [])}
        if self.kind == "ollama":
            return f"{self.base}/api/chat", {"model": self.model, "messages": list(messages), "stream": True,
                                             "options": values}
        body: dict[str, Any] = {"model": self.model, "messages": list(messages), "stream": True,
                                "stream_options": {"include_usage": True}}
        for name, target in OPENAI_FIELDS.items():
            if name in values and not (name == "num_predict" and values[name] < 0):
                body[target] = values[name]
        return f"{self.base}/chat/completions", body

    def _ollama_lines(self, lines: Iterator[str], started: float) -> Iterator[Chunk]:
        for line in lines:
            if not line.strip():
                continue
            obj = json.loads(line)
            text = (obj.get("message") or {}).get("content") or ""
            if obj.get("done"):
                yield Chunk(text, int(obj.get("prompt_eval_count") or 0), int(obj.get("eval_count") or 0),
                            obj.get("done_reason") or "stop", obj.get("load_duration", 0) / 1e9,
                            obj.get("prompt_eval_duration", 0) / 1e9, obj.get("eval_duration", 0) / 1e9)
                return
            if text:
                yield Chunk(text, 0, 0)

    def _openai_events(self, lines: Iterator[str], started: float) -> Iterator[Chunk]:
        finish, usage, first = "stop", {}, None
        for line in lines:
            data = line.removeprefix("data:").strip()
            if not line.startswith("data:") or not data:
                continue
            if data == "[DONE]":
                break
            obj = json.loads(data)
            usage = obj.get("usage") or usage
            for choice in obj.get("choices") or []:
                text = (choice.get("delta") or {}).get("content") or ""
                if text:
                    first = first or time.perf_counter()
                    yield Chunk(text, 0, 0)
                finish = choice.get("finish_reason") or finish
        end = time.perf_counter()
        yield Chunk("", int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)), finish,
                    0.0, (first or end) - started, end - (first or end))


@dataclass
class UpstreamModel(ServedModel):
    """A ServedModel whose engine is an upstream server; no local file behind it."""

    spec: str = ""

    @property
    def details(self) -> dict[str, Any]:
        return {"format": "upstream", "family": "upstream", "families": ["upstream"], "parameter_size": "",
                "quantization_level": "", "parent_model": self.spec, "context_length": 0, "parameter_count": 0}

    @property
    def size(self) -> int:
        return 0

    @property
    def digest(self) -> str:
        import hashlib

        return hashlib.sha256(self.spec.encode()).hexdigest()

    def modelfile_text(self) -> str:
        return f"# upstream {self.spec}\n"


def served_upstream(name: str, spec: str, api_key: str | None = None,
                    parameters: Mapping[str, Any] | None = None) -> UpstreamModel:
    from gemmaiku.runtime import options_from

    kind, base, model = parse_upstream(spec)
    engine = UpstreamEngine(kind, base, model, api_key, options_from(dict(parameters or {})))
    return UpstreamModel(name=name, path=Path(spec), engine=engine, spec=spec)  # type: ignore[arg-type]
