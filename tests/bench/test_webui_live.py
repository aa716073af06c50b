"""The `webui` layer's wire format against a real Open WebUI in front of a fake-engine server.

Skipped unless Open WebUI is installed (`.venv-webui`, or OPEN_WEBUI_BIN); no llama.cpp involved.
"""

from __future__ import annotations

import httpx
import pytest

from gemmaiku.errors import GemmaikuError
from gemmaiku.evaluate.targets import parse_target
from gemmaiku.serve import Registry
from gemmaiku.serve.registry import ServedModel
from tests.serve.conftest import FAKE_REPLY, FakeEngine, LiveServer, write_tiny_gguf

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture
def webui(tmp_path):
    from gemmaiku.serve.webui import find_webui_bin, free_port, start_webui

    try:
        find_webui_bin()
    except GemmaikuError:
        pytest.skip("Open WebUI is not installed")
    engine = FakeEngine()
    registry = Registry([tmp_path])
    registry.add(ServedModel(name="gemmaiku", path=write_tiny_gguf(tmp_path / "tiny.gguf"), engine=engine))
    with LiveServer(registry) as url:
        ui = start_webui(url, port=free_port(), data_dir=tmp_path / "webui-data", log_path=tmp_path / "webui.log",
                         extra_env={"ENABLE_TITLE_GENERATION": "false", "ENABLE_TAGS_GENERATION": "false",
                                    "ENABLE_FOLLOW_UP_GENERATION": "false"})
        try:
            yield ui.url, engine
        finally:
            ui.stop()


def test_webui_target_and_sign_in(webui):
    from gemmaiku.bench.throughput import webui_token

    url, engine = webui
    signup = httpx.post(f"{url}/api/v1/auths/signup", timeout=60,
                        json={"name": "Bench", "email": "bench@example.com", "password": "bench-pass-1"})
    assert signup.status_code == 200, signup.text
    token = webui_token(url, "bench@example.com", "bench-pass-1")
    target = parse_target(f"openai:{url}/api/gemmaiku:latest", api_key=token)
    try:
        reply = target.generate([{"role": "user", "content": "the sea?"}], {"temperature": 0.3, "seed": 5})
    finally:
        target.close()
    assert reply.text == FAKE_REPLY and reply.generated_tokens > 0 and 0 < reply.ttft_s <= reply.total_s
    sent = engine.seen[-1]["options"]
    assert sent.temperature == 0.3 and sent.seed == 5  # carried through Open WebUI in "params"
    with pytest.raises(GemmaikuError, match="sign-in failed"):
        webui_token(url, "bench@example.com", "wrong")
