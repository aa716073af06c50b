"""The throughput bench's Docker layer: docker stats parsing, CPU pinning, the report's services
table; live, Open WebUI's image in front of a fake-engine server, and a tiny run of every started
layer on the real base model (skipped without Docker or the image, except under CI)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from gemmaiku.bench.throughput import (
    LAYERS,
    OPEN_WEBUI_IMAGE,
    Measurement,
    docker_cpuset_args,
    mem_usage_mib,
    write_throughput,
)
from gemmaiku.cli import cli


@pytest.mark.parametrize(("text", "mib"), [("812.4MiB / 23.4GiB", 812.4), ("1.5GiB / 23GiB", 1536.0),
                                           ("512KiB / 1GiB", 0.5), ("--", None), ("", None)])
def test_docker_stats_memory(text, mib):
    assert mem_usage_mib(text) == mib


def test_containers_get_the_cpus_this_process_may_use(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {1, 3})
    assert docker_cpuset_args() == ["--cpuset-cpus", "1,3"]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert docker_cpuset_args() == []


def test_started_layers_are_listed():
    assert {"webui-venv", "webui-docker"} <= set(LAYERS)
    assert OPEN_WEBUI_IMAGE in LAYERS["webui-docker"][0]


def test_report_shows_the_started_services(tmp_path):
    rows = [Measurement("raw", 1, 4, 1.0, 40, 50.0, 50.0, 0.1, 0.1, 1.0, 1.2, 0.1, [0.1]),
            Measurement("webui-docker", 1, 4, 1.0, 40, 45.0, 45.0, 0.12, 0.12, 1.1, 1.3, 0.2, [0.1])]
    services = {"webui-docker": {"start_s": 21.5, "memory_mib_started": 801.2, "memory_mib_end": 845.0}}
    settings = {"layers": ["raw", "webui-docker"], "concurrency": [1], "requests": 4, "services": services}
    payload = write_throughput(tmp_path / "t", rows, False, settings, [])
    md = (tmp_path / "t" / "report.md").read_text()
    assert "| webui-docker | 21.5 | 801 | 845 |" in md
    assert "| webui-docker | 1 | 4 | 45.0 | 0.90x |" in md
    assert payload["settings"]["services"] == services


def require_docker_image() -> None:
    ready = subprocess.run(["docker", "image", "inspect", OPEN_WEBUI_IMAGE], capture_output=True).returncode == 0 \
        if shutil.which("docker") else False
    if not ready:
        if os.environ.get("CI") == "true":
            pytest.fail(f"under CI the image {OPEN_WEBUI_IMAGE} must exist (make images)", pytrace=False)
        pytest.skip(f"no Docker daemon or no {OPEN_WEBUI_IMAGE} (make images)")


@pytest.mark.slow
@pytest.mark.e2e
def test_open_webui_container_in_front_of_a_server(tmp_path):
    """The container reaches a server on the host's loopback, a fresh admin signs up, a chat
    goes through with its options, and the container is gone afterwards."""
    require_docker_image()
    from gemmaiku.bench.throughput import docker_webui, webui_token
    from gemmaiku.evaluate.targets import parse_target
    from gemmaiku.serve import Registry
    from gemmaiku.serve.registry import ServedModel
    from tests.serve.conftest import FAKE_REPLY, FakeEngine, LiveServer, write_tiny_gguf

    engine = FakeEngine()
    registry = Registry([tmp_path])
    registry.add(ServedModel(name="gemmaiku", path=write_tiny_gguf(tmp_path / "tiny.gguf"), engine=engine))  # type: ignore[arg-type]
    with LiveServer(registry) as server_url, docker_webui(server_url, log=tmp_path / "webui.log") as (url, memory):
        assert memory() > 100  # MiB: Open WebUI is running in there
        token = webui_token(url, "bench@example.com", "bench-pass-1", name="Bench")
        target = parse_target(f"openai:{url}/api/gemmaiku:latest", api_key=token)
        try:
            reply = target.generate([{"role": "user", "content": "the sea?"}], {"temperature": 0.3, "seed": 5})
        finally:
            target.close()
        container = f"gemmaiku-bench-webui-{url.rsplit(':', 1)[1]}"
    assert reply.text == FAKE_REPLY and engine.seen[-1]["options"].seed == 5
    gone = subprocess.run(["docker", "inspect", container], capture_output=True)
    assert gone.returncode != 0, "the benchmark left its container behind"
    assert (tmp_path / "webui.log").stat().st_size > 0  # the container's log, kept


@pytest.mark.slow
@pytest.mark.real_model
@pytest.mark.e2e
def test_tiny_run_raw_vs_docker(base_gguf, tmp_path):
    """One configuration of raw and webui-docker on the base model: both measured, same tokens,
    the container's start time and memory in the report."""
    require_docker_image()
    out = tmp_path / "tp"
    result = CliRunner().invoke(cli, ["bench", "throughput", str(base_gguf), "--layers", "raw,webui-docker",
                                      "--concurrency", "1", "--requests", "2", "--num-predict", "4",
                                      "--threads", "1", "--out", str(out), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "report.json").read_text())
    rows = {r["layer"]: r for r in payload["rows"]}
    assert set(rows) == {"raw", "webui-docker"} and all(r["errors"] == [] for r in rows.values())
    assert rows["webui-docker"]["generated_tokens"] == rows["raw"]["generated_tokens"] > 0
    assert rows["webui-docker"]["vs_raw"]["tokens_per_s"] > 0
    service = payload["settings"]["services"]["webui-docker"]
    assert service["start_s"] > 0 and service["memory_mib_started"] > 100
