"""Which requests a model takes now, and which models stay loaded.

Each model takes as many requests as it decodes at once (an engine's ``parallel``, 1 for most)
plus ``max_queue`` waiting; one more is answered 503 (OLLAMA_MAX_QUEUE's rule). At most
``max_loaded`` models stay loaded: when a request needs another one, the least recently used model
with nothing in flight is unloaded first, as Ollama's scheduler does; ``keep_alive: 0`` unloads a
model as soon as its last request ends. Unloading runs in a worker thread, and a model being
unloaded takes no request until it is done (the request then loads it again).
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import anyio

from gemmaiku.errors import GemmaikuError
from gemmaiku.serve.limits import Limits, off_loop


class ServerBusy(GemmaikuError):
    """A model's queue is full (answered 503: retry later)."""


@dataclass
class Ticket:
    """One admitted request; give it back with :meth:`Admission.leave` when the reply ends."""

    engine: Any
    unload_after: bool = False
    left: bool = False


class Admission:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._in_flight: dict[int, int] = {}
        self._recent: OrderedDict[int, Any] = OrderedDict()  # engines by last use, oldest first
        self._unloading: set[int] = set()
        self._remote: set[int] = set()  # still loaded after unload(): a model on another server

    # -- the async side, used by the routes ----------------------------------------------------
    async def enter(self, name: str, engine: Any, *, keep_alive: Any = None) -> Ticket:
        """Admit a request for ``engine`` (served as ``name``), unloading others over the cap."""
        unload_after = keep_alive_seconds(keep_alive) == 0
        while True:
            with self._lock:
                if id(engine) not in self._unloading:
                    ticket, victims = self._admit(name, engine, unload_after)
                    break
            await anyio.sleep(0.02)  # an unload takes milliseconds
        await self._unload(victims)
        return ticket

    async def leave(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket.left:
                return
            ticket.left = True
            key = id(ticket.engine)
            self._in_flight[key] -= 1
            if not self._in_flight[key]:
                del self._in_flight[key]
            victims = self._over_cap()
            if ticket.unload_after and key not in self._in_flight and all(v is not ticket.engine for v in victims):
                victims.append(ticket.engine)
        await self._unload(victims)

    async def unload(self, engine: Any) -> None:
        """Unload ``engine`` now unless a request is using it."""
        await off_loop(self._unload_if_idle, engine)

    def counts(self) -> dict[str, int]:
        """Requests in flight and models loaded (what the hostile-client tests watch)."""
        with self._lock:
            return {"in_flight": sum(self._in_flight.values()),
                    "loaded": sum(1 for key, engine in self._recent.items()
                                  if engine.loaded and key not in self._remote)}

    # -- bookkeeping, under the lock -----------------------------------------------------------
    def _admit(self, name: str, engine: Any, unload_after: bool) -> tuple[Ticket, list[Any]]:
        key = id(engine)
        running = self._in_flight.get(key, 0)
        room = int(getattr(engine, "parallel", 1)) + self.limits.max_queue
        if running >= room:
            raise ServerBusy(
                f"model '{name}' is busy: {running} requests in flight, the most it takes is {room} "
                "(GEMMAIKU_MAX_QUEUE); retry later"
            )
        self._in_flight[key] = running + 1
        self._recent[key] = engine
        self._recent.move_to_end(key)
        return Ticket(engine, unload_after), self._over_cap()

    def _over_cap(self) -> list[Any]:
        """Idle loaded engines to unload, oldest first, so that at most ``max_loaded`` remain
        (an engine with requests in flight counts as loaded: it is loading or decoding)."""
        resident = [(key, engine) for key, engine in self._recent.items()
                    if key not in self._remote and (engine.loaded or key in self._in_flight)]
        excess = len(resident) - self.limits.max_loaded
        victims = []
        for key, engine in resident:
            if excess <= 0:
                break
            if key not in self._in_flight and key not in self._unloading:
                victims.append(engine)
                excess -= 1
        for key in [k for k, e in self._recent.items() if k not in self._in_flight and not e.loaded]:
            del self._recent[key]  # forget models that are neither loaded nor in use
        return victims

    async def _unload(self, victims: list[Any]) -> None:
        for engine in victims:
            await off_loop(self._unload_if_idle, engine)

    def _unload_if_idle(self, engine: Any) -> None:
        key = id(engine)
        with self._lock:
            if key in self._in_flight or key in self._unloading:
                return  # taken again since it was chosen
            self._unloading.add(key)
        try:
            engine.unload()
        finally:
            with self._lock:
                self._unloading.discard(key)
                if engine.loaded:  # nothing to unload here: it holds no memory of this server's
                    self._remote.add(key)


# Ollama's keep_alive: seconds as a number, or a Go duration ("5m", "1h30m", "300ms", "-1").
DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def keep_alive_seconds(value: Any) -> float | None:
    """``keep_alive`` in seconds (negative: forever), None when not given; bad values raise."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        sign = -1.0 if text.startswith("-") else 1.0
        body = text.lstrip("+-")
        try:
            return sign * float(body)
        except ValueError:
            pass
        if body and "".join(m.group() for m in DURATION.finditer(body)) == body:
            return sign * sum(float(n) * DURATION_UNITS[unit] for n, unit in DURATION.findall(body))
    raise GemmaikuError(f"bad keep_alive {value!r} (give seconds, or a duration such as \"5m\"; 0 unloads)")
