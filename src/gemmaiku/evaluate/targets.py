"""Targets: whatever answers a chat, behind one small interface.

A target is named by a spec ``KIND:WHERE`` (a table, :data:`KINDS`, maps each kind to its class):

* ``gguf:PATH``: a GGUF file run in this process by llama.cpp (:class:`gemmaiku.runtime.Engine`);
  a bare ``PATH.gguf`` means the same;
* ``ollama:http://HOST:PORT/MODEL``: any server speaking Ollama's /api/chat (Ollama itself,
  ``gemmaiku serve``);
* ``openai:http://HOST:PORT/v1/MODEL``: any OpenAI-style /chat/completions (``gemmaiku serve``,
  vLLM, llama.cpp's server); ``openai:http://HOST:8080/api/MODEL`` is Open WebUI's
  /api/chat/completions (send its token with ``--api-key``). The model is everything after the
  ``/v1/`` or ``/api/`` root, so names with slashes work.

Every target streams, so each :class:`Reply` carries the time to the first piece of text as well
as the token counts and the timings the backend reports. Options use Ollama's names
(temperature, seed, num_predict, top_k, ...) and are translated per wire format.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from gemmaiku.errors import GemmaikuError

Messages = Sequence[Mapping[str, str]]
HTTP_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Reply:
    """One reply and how it was produced."""

    text: str
    prompt_tokens: int
    generated_tokens: int
    finish_reason: str
    ttft_s: float  # request sent -> first non-empty text
    total_s: float  # request sent -> last byte
    eval_s: float | None = None  # decode time as the backend reports it, if it does
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"guard": {"attempts": 2, ...}}

    @property
    def tokens_per_second(self) -> float:
        """Decode speed: generated tokens over the time after the first token."""
        decode = self.eval_s if self.eval_s else self.total_s - self.ttft_s
        return self.generated_tokens / decode if decode > 0 else 0.0


class Target(Protocol):
    spec: str

    def generate(self, messages: Messages, options: Mapping[str, Any]) -> Reply: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class _Clock:
    """Times one streamed request: the first non-empty piece marks the time to first token."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: float | None = None

    def saw(self, text: str) -> None:
        if text and self.first is None:
            self.first = time.perf_counter()

    def finish(self) -> tuple[float, float]:
        end = time.perf_counter()
        return (self.first or end) - self.start, end - self.start


# -- in process ---------------------------------------------------------------------------------
class GGUFTarget:
    """A GGUF run by llama.cpp in this process; requests run one at a time (the engine's lock)."""

    def __init__(self, spec: str, path: str, *, threads: int | None = None, num_ctx: int = 2048,
                 **_: Any) -> None:
        from gemmaiku.runtime import Engine, options_from

        self.spec = spec
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise GemmaikuError(f"bad target {spec!r}: no such GGUF {self.path} (write gguf:PATH/TO/model.gguf)")
        self.engine = Engine(self.path, options=options_from({"num_ctx": num_ctx}), n_threads=threads)

    def generate(self, messages: Messages, options: Mapping[str, Any]) -> Reply:
        from gemmaiku.runtime import options_from

        opts = options_from(dict(options), base=self.engine.options)
        clock, pieces, last = _Clock(), [], None
        for chunk in self.engine.stream(list(messages), options=opts):
            clock.saw(chunk.text)
            pieces.append(chunk.text)
            last = chunk
        ttft, total = clock.finish()
        assert last is not None
        return Reply("".join(pieces), last.prompt_tokens, last.generated_tokens,
                     last.finish_reason or "stop", ttft, total, last.eval_s, dict(last.extra or {}))

    def describe(self) -> dict[str, Any]:
        from gemmaiku.evaluate.report import file_sha256

        return {"spec": self.spec, "kind": "gguf", "path": str(self.path.resolve()),
                "size": self.path.stat().st_size, "sha256": file_sha256(self.path)}

    def close(self) -> None:
        self.engine.unload()


# -- over HTTP ----------------------------------------------------------------------------------
class _HTTPTarget:
    kind = ""

    def __init__(self, spec: str, base: str, model: str, *, api_key: str | None = None, **_: Any) -> None:
        import httpx

        self.spec, self.base, self.model = spec, base.rstrip("/"), model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(headers=headers, timeout=httpx.Timeout(HTTP_TIMEOUT_S, connect=10.0))

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec, "kind": self.kind, "url": self.base, "model": self.model}

    def close(self) -> None:
        self.client.close()

    def _post_lines(self, path: str, body: dict[str, Any]) -> Iterator[str]:
        import httpx

        url = self.base + path
        try:
            with self.client.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise GemmaikuError(f"{url} answered {response.status_code}: {response.text[:300]}")
                yield from response.iter_lines()
        except httpx.HTTPError as exc:
            raise GemmaikuError(f"cannot reach {url}: {exc} (is the server running?)") from None


class OllamaTarget(_HTTPTarget):
    """POST /api/chat, streamed NDJSON; the final object carries counts and durations (ns)."""

    kind = "ollama"

    def generate(self, messages: Messages, options: Mapping[str, Any]) -> Reply:
        body = {"model": self.model, "messages": list(messages), "stream": True, "options": dict(options)}
        clock, pieces, final = _Clock(), [], {}
        for line in self._post_lines("/api/chat", body):
            if not line.strip():
                continue
            obj = json.loads(line)
            if "error" in obj:
                raise GemmaikuError(f"{self.spec}: {obj['error']}")
            text = (obj.get("message") or {}).get("content") or ""
            clock.saw(text)
            pieces.append(text)
            if obj.get("done"):
                final = obj
        ttft, total = clock.finish()
        extra = {k.removeprefix("gemmaiku_"): v for k, v in final.items() if k.startswith("gemmaiku_")}
        eval_ns = final.get("eval_duration")
        return Reply("".join(pieces), int(final.get("prompt_eval_count") or 0),
                     int(final.get("eval_count") or 0), final.get("done_reason") or "stop", ttft, total,
                     eval_ns / 1e9 if eval_ns else None, extra)


# Ollama option name -> OpenAI request field.
OPENAI_FIELDS: dict[str, str] = {
    "temperature": "temperature", "top_p": "top_p", "seed": "seed", "num_predict": "max_tokens",
    "stop": "stop", "presence_penalty": "presence_penalty", "frequency_penalty": "frequency_penalty",
}


class OpenAITarget(_HTTPTarget):
    """POST {base}/chat/completions, streamed SSE. For Open WebUI (base ending in /api) the
    options also go in ``params``, since it drops top-level sampling fields on the way to Ollama."""

    kind = "openai"

    def request_body(self, messages: Messages, options: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": list(messages), "stream": True,
                                "stream_options": {"include_usage": True}}
        for name, value in options.items():
            if name in OPENAI_FIELDS and not (name == "num_predict" and value < 0):
                body[OPENAI_FIELDS[name]] = value
        if self.base.endswith("/api"):
            body["params"] = dict(options)
        return body

    def generate(self, messages: Messages, options: Mapping[str, Any]) -> Reply:
        clock, pieces, finish, usage, extra, chunks = _Clock(), [], "stop", {}, {}, 0
        for line in self._post_lines("/chat/completions", self.request_body(messages, options)):
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            obj = json.loads(data)
            if "error" in obj:
                raise GemmaikuError(f"{self.spec}: {obj['error']}")
            usage = obj.get("usage") or usage
            extra.update({k.removeprefix("gemmaiku_"): v for k, v in obj.items() if k.startswith("gemmaiku_")})
            for choice in obj.get("choices") or []:
                text = (choice.get("delta") or {}).get("content") or ""
                if text:
                    chunks += 1
                clock.saw(text)
                pieces.append(text)
                finish = choice.get("finish_reason") or finish
        ttft, total = clock.finish()
        if not usage:
            extra["tokens_estimated"] = True  # no usage sent: one token per streamed piece
        return Reply("".join(pieces), int(usage.get("prompt_tokens") or 0),
                     int(usage.get("completion_tokens") or chunks), finish, ttft, total, None, extra)


# -- parsing ------------------------------------------------------------------------------------
def _gguf(spec: str, rest: str, **kw: Any) -> Target:
    if not rest:
        raise GemmaikuError(f"bad target {spec!r}: no path (write gguf:PATH/TO/model.gguf)")
    return GGUFTarget(spec, rest, **kw)


def _url(spec: str, rest: str, example: str) -> tuple[str, str]:
    parts = urlsplit(rest)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GemmaikuError(f"bad target {spec!r}: not an http(s) URL (write {example})")
    return f"{parts.scheme}://{parts.netloc}", parts.path


def _ollama(spec: str, rest: str, **kw: Any) -> Target:
    example = "ollama:http://127.0.0.1:11434/MODEL"
    root, path = _url(spec, rest, example)
    model = path.strip("/")
    if not model:
        raise GemmaikuError(f"bad target {spec!r}: no model name after the host (write {example})")
    return OllamaTarget(spec, root, model, **kw)


def _openai(spec: str, rest: str, **kw: Any) -> Target:
    example = "openai:http://127.0.0.1:11434/v1/MODEL, or openai:http://HOST:8080/api/MODEL for Open WebUI"
    root, path = _url(spec, rest, example)
    for api_root in ("/v1/", "/api/"):
        head, sep, model = path.partition(api_root)
        if sep and model.strip("/"):
            return OpenAITarget(spec, root + head + api_root.rstrip("/"), model.strip("/"), **kw)
    raise GemmaikuError(f"bad target {spec!r}: the URL needs /v1/MODEL or /api/MODEL (write {example})")


KINDS: dict[str, Callable[..., Target]] = {"gguf": _gguf, "ollama": _ollama, "openai": _openai}


def parse_target(spec: str, **kw: Any) -> Target:
    """A target from ``KIND:WHERE`` (see the module doc); keyword arguments go to its class
    (``threads``/``num_ctx`` for GGUFs, ``api_key`` for HTTP) and are ignored where unused."""
    kind, sep, rest = spec.partition(":")
    if not sep and spec.endswith(".gguf"):
        kind, rest = "gguf", spec
    make = KINDS.get(kind.lower()) if (sep or kind == "gguf") else None
    if make is None:
        kinds = ", ".join(f"{k}:" for k in KINDS)
        raise GemmaikuError(f"bad target {spec!r}: start it with one of {kinds} (e.g. gguf:model.gguf)")
    return make(spec, rest, **kw)


# -- guarded generation, for any target ---------------------------------------------------------
class GuardedTarget:
    """Client-side guarded generation with the server's policy (runtime.guarded): up to
    ``attempts`` samples, retries with the next seed and temperature >= 0.7, the first valid
    5-7-5 reply wins, else the closest. Works on every target kind."""

    def __init__(self, target: Target, attempts: int) -> None:
        if attempts < 1:
            raise GemmaikuError(f"--guard {attempts}: give at least 1 attempt")
        self.target, self.attempts = target, attempts
        self.spec = target.spec

    def generate(self, messages: Messages, options: Mapping[str, Any]) -> Reply:
        from gemmaiku.prosody import check_haiku
        from gemmaiku.runtime.guarded import RETRY_MIN_TEMPERATURE

        best: tuple[int, Reply] | None = None
        spent_s = 0.0
        for attempt in range(1, self.attempts + 1):
            opts = dict(options)
            if attempt > 1:
                if opts.get("seed") is not None and opts["seed"] >= 0:
                    opts["seed"] = opts["seed"] + attempt - 1
                opts["temperature"] = max(float(opts.get("temperature", 0.8)), RETRY_MIN_TEMPERATURE)
            reply = self.target.generate(messages, opts)
            spent_s += reply.total_s
            verdict = check_haiku(reply.text)
            if best is None or verdict.distance < best[0]:
                best = (verdict.distance, reply)
            if verdict.ok:
                break
        assert best is not None
        distance, reply = best
        guard = {"attempts": attempt, "valid": distance == 0, "distance": distance}
        return Reply(reply.text, reply.prompt_tokens, reply.generated_tokens, reply.finish_reason,
                     reply.ttft_s, spent_s, reply.eval_s, {**reply.extra, "guard": guard})

    def describe(self) -> dict[str, Any]:
        return {**self.target.describe(), "guard": self.attempts}

    def close(self) -> None:
        self.target.close()


def open_target(spec: str, *, guard: int = 0, **kw: Any) -> Target:
    """The target for ``spec``; with ``guard``, guarded generation as the server does it: for an
    in-process GGUF the server's own GuardedEngine (metered candidates, then the validator), for
    an HTTP target the same retries client-side (a server started with --guard meters itself)."""
    target = parse_target(spec, **kw)
    if guard > 0 and isinstance(target, GGUFTarget):
        from gemmaiku.runtime.guarded import GuardedEngine

        target.engine = GuardedEngine(target.engine, guard)  # type: ignore[assignment]
        return target
    return GuardedTarget(target, guard) if guard > 0 else target
