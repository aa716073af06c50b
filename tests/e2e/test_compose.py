"""docker-compose.yml: it parses and points Open WebUI at the server on the host.

Docker is not available where these tests run, so the file is checked, not run (docs/webui.md).
"""

from __future__ import annotations

import re

import yaml

from gemmaiku.serve.webui import OFFLINE_ENV, TASK_ENV
from tests import REPO_ROOT


def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def test_compose_points_open_webui_at_the_host_server() -> None:
    service = compose()["services"]["open-webui"]
    env = service["environment"]
    assert env["OLLAMA_BASE_URL"] == "http://host.docker.internal:11434"
    assert "host.docker.internal:host-gateway" in service["extra_hosts"]
    assert any(str(v).endswith(":/app/backend/data") for v in service["volumes"])
    assert any(str(p).endswith(":8080") for p in service["ports"])


def test_compose_runs_open_webui_offline_like_the_launcher() -> None:
    env = compose()["services"]["open-webui"]["environment"]
    for key in ("OFFLINE_MODE", "HF_HUB_OFFLINE", "RAG_EMBEDDING_ENGINE", "ENABLE_OPENAI_API"):
        assert str(env[key]) == OFFLINE_ENV[key], key
    for key, value in TASK_ENV.items():
        assert env[key] == value, key


def test_compose_image_matches_the_pinned_version() -> None:
    image = compose()["services"]["open-webui"]["image"]
    pinned = re.search(r"open-webui==([\d.]+)", (REPO_ROOT / "Makefile").read_text())
    assert pinned is not None
    assert image == f"ghcr.io/open-webui/open-webui:v{pinned.group(1)}"


def test_compose_api_key_config_is_json_once_substituted() -> None:
    import json

    raw = compose()["services"]["open-webui"]["environment"]["OLLAMA_API_CONFIGS"]
    substituted = raw.replace("${GEMMAIKU_API_KEY:-}", "s3cret")
    assert json.loads(substituted) == {"0": {"key": "s3cret"}}
