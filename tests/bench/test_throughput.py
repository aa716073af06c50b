"""The throughput bench: percentiles, ratios to raw, concurrency, reports; a tiny live run."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner

from gemmaiku.bench.throughput import (
    LAYERS,
    Measurement,
    goal_rows,
    measure,
    percentile,
    with_ratios,
    write_throughput,
)
from gemmaiku.cli import cli
from gemmaiku.errors import GemmaikuError
from gemmaiku.evaluate.targets import Reply


@pytest.mark.parametrize("q", [0, 25, 50, 95, 100])
def test_percentile_matches_numpy(q):
    values = [0.3, 1.7, 0.2, 5.0, 2.2, 2.2, 0.9]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([], q) == 0.0


class SlowTarget:
    """Serialises like one llama.cpp model: one request at a time, 10 tokens in ~20 ms."""

    lock = threading.Lock()

    def __init__(self) -> None:
        self.spec = "fake:slow"
        self.closed = False

    def generate(self, messages, options):
        start = time.perf_counter()
        with self.lock:
            time.sleep(0.005)
            first = time.perf_counter()
            time.sleep(0.015)
        end = time.perf_counter()
        return Reply("x " * 10, 5, 10, "stop", first - start, end - start, None, {})

    def describe(self):
        return {"spec": self.spec, "kind": "fake"}

    def close(self):
        self.closed = True


def test_measure_counts_requests_and_queueing():
    made: list[SlowTarget] = []

    def make():
        made.append(SlowTarget())
        return made[-1]

    messages = [[{"role": "user", "content": "hi"}]]
    one = measure("raw", make, messages, {}, concurrency=1, requests=4)
    four = measure("raw", make, messages, {}, concurrency=4, requests=8)
    assert (one.requests, one.generated_tokens) == (4, 40) and four.requests == 8
    assert one.warmup_s > 0 and one.tokens_per_s > 0
    # one model, one request at a time: four clients wait in line, so latency grows
    assert four.latency_p95_s > one.latency_p50_s and four.ttft_p95_s > one.ttft_p50_s
    assert all(t.closed for t in made) and 3 <= len(made) <= 7  # warm-up + one per client thread


def _m(layer, c, tok_s, ttft, lat):
    return Measurement(layer, c, 4, 1.0, 40, tok_s, tok_s, ttft, ttft, lat, lat * 1.2, 0.1, [0.1])


def test_ratios_to_raw_at_the_same_concurrency():
    rows = with_ratios([_m("raw", 1, 50.0, 0.1, 1.0), _m("raw", 2, 48.0, 0.2, 2.0),
                        _m("ollama", 1, 45.0, 0.15, 1.1), _m("openai", 2, 24.0, 0.4, 4.0)])
    assert rows[0]["vs_raw"]["tokens_per_s"] == 1.0
    assert rows[2]["vs_raw"] == {"tokens_per_s": 0.9, "ttft_p50": 1.5, "latency_p50": 1.1, "latency_p95": 1.1}
    assert rows[3]["vs_raw"]["tokens_per_s"] == 0.5 and rows[3]["vs_raw"]["latency_p50"] == 2.0


def test_report_holds_the_numbers(tmp_path):
    rows = [_m("raw", 1, 50.0, 0.1, 1.0), _m("ollama", 1, 45.0, 0.15, 1.1)]
    settings = {"layers": ["raw", "ollama"], "concurrency": [1], "requests": 4}
    payload = write_throughput(tmp_path / "t", rows, False, settings, [{"spec": "gguf:m", "kind": "gguf", "path": "m"}])
    md = (tmp_path / "t" / "report.md").read_text()
    assert "| ollama | 1 | 4 | 45.0 | 0.90x |" in md and "| raw | 1 | 4 | 50.0 | - |" in md
    assert json.loads((tmp_path / "t" / "report.json").read_text())["rows"] == payload["rows"]
    assert (tmp_path / "t" / "throughput.png").read_bytes()[:4] == b"\x89PNG"


def test_goals_against_llama_server_and_our_own_concurrency_1(tmp_path):
    rows = [_m("llama-server", 4, 100.0, 0.20, 2.0), _m("openai", 1, 60.0, 0.05, 1.0),
            _m("openai", 4, 96.0, 0.31, 2.1), _m("ollama", 4, 80.0, 0.29, 2.2)]
    goals = {(g["layer"], g["goal"]): g for g in goal_rows([m.to_dict() for m in rows])}
    assert goals[("openai", "aggregate tok/s vs llama-server")] == {
        "layer": "openai", "goal": "aggregate tok/s vs llama-server", "ratio": 0.96, "bound": ">= 0.95", "met": True}
    assert goals[("openai", "aggregate tok/s vs our concurrency 1")]["ratio"] == 1.6
    assert not goals[("openai", "TTFT p50 vs llama-server")]["met"]  # 1.55x the anchor's
    assert not goals[("ollama", "aggregate tok/s vs llama-server")]["met"]
    assert ("ollama", "aggregate tok/s vs our concurrency 1") not in goals  # no ollama row at concurrency 1
    settings = {"layers": ["llama-server", "openai", "ollama"], "concurrency": [1, 4], "requests": 4}
    write_throughput(tmp_path / "g", rows, False, settings, [])
    md = (tmp_path / "g" / "report.md").read_text()
    assert "| openai | TTFT p50 vs llama-server | 1.55x | <= 1.5 | no |" in md
    assert "llama-server" in LAYERS


def test_cli_errors(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    runner = CliRunner()
    result = runner.invoke(cli, ["bench", "throughput", str(model), "--layers", "raw,carrier-pigeon"])
    assert isinstance(result.exception, GemmaikuError) and "unknown layers carrier-pigeon" in str(result.exception)
    result = runner.invoke(cli, ["bench", "throughput", str(model), "--concurrency", "1,0"])
    assert isinstance(result.exception, GemmaikuError) and "bad --concurrency" in str(result.exception)
    result = runner.invoke(cli, ["bench", "throughput", str(model), "--webui-url", "http://127.0.0.1:9"])
    assert isinstance(result.exception, GemmaikuError) and "--webui-token" in str(result.exception)


@pytest.mark.slow
@pytest.mark.real_model
@pytest.mark.e2e
def test_tiny_live_run_raw_and_server(base_gguf, tmp_path):
    """Raw in process, then our server in a subprocess (started and stopped by the bench)."""
    out = tmp_path / "tp"
    result = CliRunner().invoke(cli, ["bench", "throughput", str(base_gguf), "--layers", "raw,ollama,openai",
                                      "--concurrency", "1,2", "--requests", "2", "--num-predict", "4",
                                      "--threads", "1", "--out", str(out), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "report.json").read_text())
    rows = {(r["layer"], r["concurrency"]): r for r in payload["rows"]}
    assert set(rows) == {(layer, c) for layer in ("raw", "ollama", "openai") for c in (1, 2)}
    for row in rows.values():
        assert row["requests"] == 2 and row["errors"] == []
        assert 0 < row["generated_tokens"] <= 8 and row["tokens_per_s"] > 0
        assert row["ttft_p50_s"] <= row["latency_p50_s"]
    # greedy: every layer generated the same number of tokens
    assert len({r["generated_tokens"] for r in rows.values()}) == 1
    assert rows[("ollama", 1)]["vs_raw"]["tokens_per_s"] > 0
    assert "throughput.png" in {p.name for p in out.iterdir()}
