"""docker-compose.yml, docker/compose.host.yml and the images' Dockerfiles agree with each other and
with the launcher: URL, host gateway, data volume, offline settings, image tags, loopback binding.

These read the files; test_docker_webui.py brings the stack up for real.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from gemmaiku.bench.throughput import OPEN_WEBUI_IMAGE, SERVE_IMAGE
from gemmaiku.serve.webui import OFFLINE_ENV, TASK_ENV
from tests import REPO_ROOT


def load(name: str) -> dict:
    return yaml.safe_load((REPO_ROOT / name).read_text())


def compose() -> dict:
    return load("docker-compose.yml")


def default(value: str) -> str:
    """`${NAME:-default}` -> default (what docker-compose substitutes when NAME is unset)."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_plain_up_is_the_seeds_bridge_to_the_host_server() -> None:
    service = compose()["services"]["open-webui"]
    bridge = load("docker-compose.override.yml")["services"]["open-webui"]  # read by a plain `up`
    assert default(service["environment"]["OLLAMA_BASE_URL"]) == "http://host.docker.internal:11434"
    assert "host.docker.internal:host-gateway" in bridge["extra_hosts"]
    assert bridge["ports"] == ["127.0.0.1:3000:8080"]  # the seed's port, on loopback only
    assert service["volumes"] == ["open-webui:/app/backend/data"]  # the seed's named volume
    assert "ports" not in service and "network_mode" not in service  # the network is the override's


def test_compose_runs_open_webui_offline_like_the_launcher() -> None:
    env = compose()["services"]["open-webui"]["environment"]
    for key, value in OFFLINE_ENV.items():
        assert str(env[key]) == value, key
    for key, value in TASK_ENV.items():
        assert env[key] == value, key


def dockerfile_env(name: str) -> dict[str, str]:
    """The final stage's ENV of docker/NAME (KEY=VALUE pairs, continued lines joined)."""
    text = (REPO_ROOT / "docker" / name).read_text().replace("\\\n", " ")
    final = text.rsplit("\nFROM ", 1)[1]
    pairs = [p for line in final.splitlines() if line.startswith("ENV ") for p in line[4:].split()]
    return dict(p.split("=", 1) for p in pairs)


def test_open_webui_image_starts_offline_by_itself() -> None:
    env = dockerfile_env("open-webui.Dockerfile")
    assert {k: env[k] for k in OFFLINE_ENV} == OFFLINE_ENV
    assert env["DATA_DIR"] == "/app/backend/data"  # the volume of the seed's `docker run`


def test_image_tags_agree_everywhere() -> None:
    services = compose()["services"]
    assert default(services["open-webui"]["image"]) == OPEN_WEBUI_IMAGE
    assert default(services["gemmaiku"]["image"]) == SERVE_IMAGE
    pinned = re.search(r"open-webui==([\d.]+)", (REPO_ROOT / "Makefile").read_text())
    assert pinned is not None and OPEN_WEBUI_IMAGE.endswith(":" + pinned.group(1))
    args = re.search(r"ARG OPEN_WEBUI_VERSION=([\d.]+)", (REPO_ROOT / "docker" / "open-webui.Dockerfile").read_text())
    assert args is not None and OPEN_WEBUI_IMAGE.endswith(":" + args.group(1))


def test_compose_api_key_config_is_json_once_substituted() -> None:
    raw = compose()["services"]["open-webui"]["environment"]["OLLAMA_API_CONFIGS"]
    substituted = raw.replace("${GEMMAIKU_API_KEY:-}", "s3cret")
    assert json.loads(substituted) == {"0": {"key": "s3cret"}}
    assert json.loads(default(raw)) == {"0": {"key": ""}}


def test_serve_container_is_optional_and_serves_the_pipelines_modelfile() -> None:
    service = compose()["services"]["gemmaiku"]
    assert service["profiles"] == ["serve"]  # `docker-compose up` alone starts Open WebUI only
    command = [default(part) for part in service["command"]]
    assert command[:2] == ["serve", "gemmaiku=/models/Modelfile"]
    assert command[command.index("--host") + 1] == "0.0.0.0"  # reachable from Open WebUI's container
    assert default(service["volumes"][0]) == "./artifacts:/models:ro"
    assert default(service["environment"]["GEMMAIKU_API_KEY"]) == ""


def test_host_network_override_keeps_everything_on_loopback() -> None:
    main, host = compose()["services"], load("docker/compose.host.yml")["services"]
    assert {s["network_mode"] for s in host.values()} == {"host"}
    assert host["open-webui"]["environment"]["HOST"] == "127.0.0.1"
    assert default(host["open-webui"]["environment"]["OLLAMA_BASE_URL"]) == "http://127.0.0.1:11434"
    command, loopback = main["gemmaiku"]["command"], host["gemmaiku"]["command"]
    at = command.index("--host") + 1
    assert loopback[at] == "127.0.0.1"
    assert loopback[:at] + loopback[at + 1:] == command[:at] + command[at + 1:]  # otherwise the same


def compose_config(*files: str) -> dict:
    args = [a for f in files for a in ("--file", str(REPO_ROOT / f))]
    result = subprocess.run(["docker-compose", "--project-directory", str(REPO_ROOT), *args, "--profile", "serve",
                             "config"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose is not installed")
def test_docker_compose_reads_both_networks() -> None:
    bridge = compose_config()  # no files named: docker-compose.yml + docker-compose.override.yml
    assert "network_mode" not in bridge["open-webui"] and bridge["open-webui"]["ports"]
    host = compose_config("docker-compose.yml", "docker/compose.host.yml")
    assert host["open-webui"]["network_mode"] == "host" and host["gemmaiku"]["network_mode"] == "host"
    assert "ports" not in host["open-webui"]  # docker refuses published ports on the host network
