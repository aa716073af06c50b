"""Models on another server, as :class:`~gemmaiku.runtime.generator.Generator` objects.

One client for everything that talks to a remote model: the server's upstream models
(``gemmaiku serve prose=ollama:http://host:11434/llama3.2``) and the evaluation's HTTP targets
(``gemmaiku eval adversarial -t openai:http://host/v1/gemmaiku``). One spec grammar::

    ollama:http(s)://HOST[:PORT]/MODEL              Ollama's /api/chat, streamed NDJSON
    openai:http(s)://HOST[:PORT][/PREFIX]/v1/MODEL  OpenAI's /chat/completions, streamed SSE
    openai:http(s)://HOST[:PORT]/api/MODEL          Open WebUI's /api/chat/completions

MODEL is the rest of the path, so names with slashes and tags work (``hf.co/user/model:Q4_K_M``).
Options travel in Ollama's names; only those the caller set are sent (the remote model keeps
its own defaults), translated for OpenAI by :data:`OPENAI_FIELDS`. A grammar travels as the
response format it was compiled from (runtime.grammar): Ollama's ``format``, OpenAI's
``response_format``. Gemmaiku's own server adds ``gemmaiku_*`` fields (route, search) to its
final chunk; they come back in the last Chunk's ``extra``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gemmaiku.errors import GemmaikuError
from gemmaiku.runtime.generator import Chunk, Messages
from gemmaiku.runtime.grammar import Grammar
from gemmaiku.runtime.options import GenerationOptions

HTTP_TIMEOUT_S = 600.0
EXAMPLES = "ollama:http://127.0.0.1:11434/MODEL or openai:http://HOST/v1/MODEL"

# Ollama option -> OpenAI request field.
OPENAI_FIELDS: dict[str, str] = {
    "temperature": "temperature", "top_p": "top_p", "seed": "seed", "num_predict": "max_tokens",
    "stop": "stop", "presence_penalty": "presence_penalty", "frequency_penalty": "frequency_penalty",
}
OPENAI_ROOTS = ("v1", "api")  # the path segment that ends an OpenAI base URL (api: Open WebUI)


@dataclass(frozen=True)
class RemoteSpec:
    kind: str  # "ollama" or "openai"
    base: str  # URL the API paths hang off
    model: str


def parse_remote(spec: str, *, what: str = "remote model") -> RemoteSpec:
    """``KIND:URL/MODEL`` (the grammar in the module doc); a mistake is one line naming ``what``."""
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in WIRES:
        raise GemmaikuError(f"bad {what} {spec!r}: start it with ollama: or openai: (write {EXAMPLES})")
    parts = urlsplit(rest)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GemmaikuError(f"bad {what} {spec!r}: not an http(s) URL (write {EXAMPLES})")
    root = f"{parts.scheme}://{parts.netloc}"
    segments = parts.path.strip("/").split("/") if parts.path.strip("/") else []
    if kind == "openai":
        cut = next((i for i, s in enumerate(segments) if s in OPENAI_ROOTS), None)
        if cut is None or cut == len(segments) - 1:
            raise GemmaikuError(f"bad {what} {spec!r}: the URL needs /v1/MODEL or /api/MODEL (write {EXAMPLES})")
        root, segments = "/".join([root, *segments[: cut + 1]]), segments[cut + 1 :]
    model = "/".join(segments)
    if not model:
        raise GemmaikuError(f"bad {what} {spec!r}: no model name after the URL (write {EXAMPLES})")
    return RemoteSpec(kind, root, model)


# -- wire formats: one row per kind --------------------------------------------------------------
class OllamaWire:
    """POST /api/chat, NDJSON; the last object has ``done`` with counts and durations (ns)."""

    path = "/api/chat"

    @staticmethod
    def body(spec: RemoteSpec, messages: list[dict[str, Any]], options: dict[str, Any], fmt: Any) -> dict[str, Any]:
        body = {"model": spec.model, "messages": messages, "stream": True, "options": options}
        return body | ({"format": fmt} if fmt is not None else {})

    @staticmethod
    def chunks(lines: Iterator[str], started: float) -> Iterator[Chunk]:
        for line in lines:
            if not line.strip():
                continue
            obj = _json(line)
            text = (obj.get("message") or {}).get("content") or ""
            if not obj.get("done"):
                if text:
                    yield Chunk(text, 0, 0)
                continue
            yield Chunk(text, int(obj.get("prompt_eval_count") or 0), int(obj.get("eval_count") or 0),
                        obj.get("done_reason") or "stop", (obj.get("load_duration") or 0) / 1e9,
                        (obj.get("prompt_eval_duration") or 0) / 1e9, (obj.get("eval_duration") or 0) / 1e9,
                        extra=_ours(obj))
            return
        raise RemoteError("the stream ended without its final object")


class OpenAIWire:
    """POST {base}/chat/completions, SSE ending with ``data: [DONE]``; usage on request."""

    path = "/chat/completions"

    @staticmethod
    def body(spec: RemoteSpec, messages: list[dict[str, Any]], options: dict[str, Any], fmt: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"model": spec.model, "messages": messages, "stream": True,
                                "stream_options": {"include_usage": True}}
        for name, value in options.items():
            if name in OPENAI_FIELDS and not (name == "num_predict" and value < 0):
                body[OPENAI_FIELDS[name]] = value
        if spec.base.endswith("/api"):  # Open WebUI drops top-level sampling fields on the way to Ollama
            body["params"] = dict(options)
        if fmt == "json":
            body["response_format"] = {"type": "json_object"}
        elif fmt is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "reply", "schema": fmt}}
        return body

    @staticmethod
    def chunks(lines: Iterator[str], started: float) -> Iterator[Chunk]:
        finish, usage, extra, pieces, first = "stop", {}, {}, 0, None
        for line in lines:
            data = line.removeprefix("data:").strip()
            if not line.startswith("data:") or not data:
                continue
            if data == "[DONE]":
                break
            obj = _json(data)
            usage = obj.get("usage") or usage
            extra |= _ours(obj) or {}
            for choice in obj.get("choices") or []:
                text = (choice.get("delta") or {}).get("content") or ""
                if text:
                    first, pieces = first or time.perf_counter(), pieces + 1
                    yield Chunk(text, 0, 0)
                finish = choice.get("finish_reason") or finish
        if not usage:
            extra["tokens_estimated"] = True  # no usage sent: one token per streamed piece
        end = time.perf_counter()
        yield Chunk("", int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or pieces), finish,
                    0.0, (first or end) - started, end - (first or end), extra=extra or None)


WIRES: dict[str, type[OllamaWire] | type[OpenAIWire]] = {"ollama": OllamaWire, "openai": OpenAIWire}


class RemoteError(Exception):
    """What the remote server said went wrong (told to the user with its URL)."""


def _json(text: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        raise RemoteError(f"sent a line that is not JSON: {text[:120]!r}") from None
    if "error" in obj:
        error = obj["error"]
        raise RemoteError(str(error.get("message", error) if isinstance(error, dict) else error))
    return obj


def _ours(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """Gemmaiku's own fields on a final chunk (gemmaiku_route, gemmaiku_search...), unprefixed."""
    found = {key.removeprefix("gemmaiku_"): value for key, value in obj.items() if key.startswith("gemmaiku_")}
    return found or None


# -- the generator -------------------------------------------------------------------------------
@dataclass
class RemoteGenerator:
    """A model on another server. ``options`` are its defaults here (e.g. a served name's
    PARAMETERs); only the options set on them or per request are sent."""

    spec: RemoteSpec
    api_key: str | None = None
    options: GenerationOptions = field(default_factory=GenerationOptions)
    _client: Any = field(default=None, repr=False)

    loaded = True  # nothing to load here; the remote server loads its model itself

    @property
    def url(self) -> str:
        return self.spec.base + WIRES[self.spec.kind].path

    def load(self) -> float:
        return 0.0

    def unload(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def client(self) -> Any:
        import httpx

        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(HTTP_TIMEOUT_S, connect=10.0))
        return self._client

    def request(self, messages: Messages, options: GenerationOptions, grammar: str | None) -> dict[str, Any]:
        """The JSON body for ``messages``; a grammar goes as the format it was compiled from."""
        fmt = grammar.json_format if isinstance(grammar, Grammar) else None
        if grammar and fmt is None:
            raise GemmaikuError(f"{self.url} cannot decode under a GBNF grammar, and this one has no JSON "
                                "format to send instead (give a format: json or a JSON schema)")
        sent = [dict(m) for m in messages]
        return WIRES[self.spec.kind].body(self.spec, sent, options.model_dump(exclude_unset=True), fmt)

    def stream(self, messages: Messages | None = None, *, prompt: str | None = None,
               options: GenerationOptions | None = None, grammar: str | None = None) -> Iterator[Chunk]:
        import httpx

        if messages is None or prompt is not None:
            raise GemmaikuError(f"{self.url} takes chat messages, not a raw prompt")
        body = self.request(messages, options or self.options, grammar)
        started = time.perf_counter()
        try:
            with self.client().stream("POST", self.url, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise GemmaikuError(f"{self.url} answered {response.status_code}: {response.text[:300]}")
                yield from WIRES[self.spec.kind].chunks(response.iter_lines(), started)
        except RemoteError as exc:
            raise GemmaikuError(f"{self.url}: {exc}") from None
        except httpx.HTTPError as exc:
            raise GemmaikuError(f"cannot reach {self.url}: {exc} (is the server running?)") from None


def remote_generator(spec: str, *, api_key: str | None = None, options: Mapping[str, Any] | None = None,
                     what: str = "remote model") -> RemoteGenerator:
    """A generator for ``spec`` (``ollama:...`` or ``openai:...``) with ``options`` as its defaults."""
    from gemmaiku.runtime.options import options_from

    return RemoteGenerator(parse_remote(spec, what=what), api_key, options_from(dict(options or {})))

