"""The server side of the Open WebUI e2e test: what our server saw and answered, request by request.

:class:`Recorder` wraps the ASGI app and keeps, for each request, its path, status, and for
/api/chat the kind of request Open WebUI sent (the main turn or a background task), the number of
tool definitions, the route the server took (X-Gemmaiku-Route headers) and the reply text.
:class:`CappedEngine` bounds num_predict whatever the client asks (Open WebUI asks for 1000
tokens for a title), to keep the test's wall time small.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

# Markers of Open WebUI 0.12's background-task prompts (open_webui/config.py), and of the title
# prompt our launcher gives it (gemmaiku.serve.webui.TITLE_PROMPT).
TASK_KINDS: dict[str, tuple[str, ...]] = {
    "title": ("Generate a concise title", "### Task: title"),
    "tags": ("Generate 1-3 broad tags",),
    "follow_ups": ("Predict 3-5 useful messages",),
}


def request_kind(text: str) -> str:
    if "### Task:" in text:
        for kind, markers in TASK_KINDS.items():
            if any(marker in text for marker in markers):
                return kind
        return "other_task"
    return "main"


@dataclass
class Exchange:
    method: str
    path: str
    status: int | None = None
    kind: str | None = None  # /api/chat only: main, title, tags, follow_ups
    model: str | None = None
    stream: bool | None = None
    tools: int = 0
    user_text: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    route: str | None = None
    route_model: str | None = None
    reply: str = ""
    guard: dict[str, Any] | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data["user_text"] = self.user_text[:120]
        return data


class Recorder:
    """ASGI middleware recording every exchange (thread-safe: the test reads while it serves)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []
        self.in_flight = 0
        self.lock = threading.Lock()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = Exchange(scope["method"], scope["path"])
        body, out = bytearray(), bytearray()
        started = time.perf_counter()

        async def receive_recorded() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
            return message

        async def send_recorded(message: dict) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
                exchange.route = headers.get("x-gemmaiku-route")
                exchange.route_model = headers.get("x-gemmaiku-route-model")
            elif message["type"] == "http.response.body" and exchange.path == "/api/chat":
                out.extend(message.get("body", b""))
            await send(message)

        with self.lock:
            self.in_flight += 1
        try:
            await self.app(scope, receive_recorded, send_recorded)
        finally:
            exchange.seconds = round(time.perf_counter() - started, 2)
            if exchange.path == "/api/chat":
                parse_chat(exchange, bytes(body), bytes(out))
            with self.lock:
                self.exchanges.append(exchange)
                self.in_flight -= 1

    # -- what the test asks --------------------------------------------------------------------
    def chats(self, kind: str | None = None) -> list[Exchange]:
        with self.lock:
            return [
                e
                for e in self.exchanges
                if e.path == "/api/chat" and (kind is None or e.kind == kind)
            ]

    def idle(self) -> bool:
        with self.lock:
            return self.in_flight == 0

    def wait(self, predicate, timeout_s: float, quiet_s: float = 3.0) -> bool:
        """Wait until ``predicate()`` holds and no request has been in flight for ``quiet_s``."""
        deadline = time.monotonic() + timeout_s
        quiet_since = None
        while time.monotonic() < deadline:
            if predicate() and self.idle():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet_s:
                    return True
            else:
                quiet_since = None
            time.sleep(0.5)
        return False

    def dump(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e.summary() for e in self.exchanges]


def parse_chat(exchange: Exchange, body: bytes, out: bytes) -> None:
    try:
        request = json.loads(body)
    except ValueError:
        return
    exchange.model = request.get("model")
    exchange.stream = request.get("stream", True)
    exchange.tools = len(request.get("tools") or [])
    exchange.options = dict(request.get("options") or {})
    users = [
        m.get("content") or "" for m in request.get("messages") or [] if m.get("role") == "user"
    ]
    exchange.user_text = str(users[-1]) if users else ""
    exchange.kind = request_kind(exchange.user_text)
    pieces = []
    for line in out.decode("utf-8", "replace").splitlines():
        try:
            chunk = json.loads(line)
        except ValueError:
            continue
        pieces.append((chunk.get("message") or {}).get("content") or "")
        if chunk.get("done"):
            exchange.guard = chunk.get("gemmaiku_search")
    exchange.reply = "".join(pieces)


@dataclass
class Decision:
    kind: str
    route: str
    target: str
    confidence: float


def record_decisions(router: Any) -> list[Decision]:
    """Wrap ``router.choose`` (a RouterModel in the registry) to keep every decision it makes."""
    from gemmaiku.router.policy import routing_text

    decisions: list[Decision] = []
    choose = router.choose

    def recording_choose(messages):
        decision = choose(messages)
        decisions.append(
            Decision(
                request_kind(routing_text(messages)),
                decision.route,
                decision.target,
                decision.confidence,
            )
        )
        return decision

    router.choose = recording_choose
    return decisions


class CappedEngine:
    """An engine whose replies stop after ``cap`` tokens, whatever num_predict a client sends."""

    def __init__(self, engine: Any, cap: int) -> None:
        self.engine = engine
        self.cap = cap

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def _capped(self, options):
        options = options or self.engine.options
        if options.num_predict < 0 or options.num_predict > self.cap:
            options = options.model_copy(update={"num_predict": self.cap})
        return options

    def stream(self, messages=None, *, prompt=None, options=None, **constraints) -> Iterator[Any]:
        return self.engine.stream(messages, prompt=prompt, options=self._capped(options), **constraints)

    def generate(self, messages=None, *, prompt=None, options=None, **constraints) -> Any:
        return self.engine.generate(messages, prompt=prompt, options=self._capped(options), **constraints)
