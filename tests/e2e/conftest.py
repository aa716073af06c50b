"""Fixtures for the Open WebUI end-to-end test: requirements, the haiku model, the live stack.

Open WebUI (a separate venv, `make webui-venv`) and Debian's chromium are not part of the core
install. Missing, the e2e tests skip, except under CI (CI=true), where they fail with the fix.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import REPO_ROOT
from tests.e2e.browser import CHROMEDRIVER, CHROMIUM

HAIKU_CANDIDATES = 4  # guarded generation: search decoding, 4 candidates per line (bounded by itself)
PROSE_MAX_TOKENS = 96  # SmolLM2's replies, titles, tags and follow-ups
THREADS = 2  # per model; the server's compute slot runs one generation at a time


def missing_requirements() -> list[str]:
    from gemmaiku.errors import GemmaikuError
    from gemmaiku.serve.webui import find_webui_bin

    missing = []
    try:
        find_webui_bin()
    except GemmaikuError:
        missing.append("Open WebUI (run `make webui-venv`)")
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        missing.append(
            "chromium and chromium-driver (run `make chromium`, i.e. apt-get install chromium chromium-driver)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[test]')")
    return missing


def require_e2e_tools() -> None:
    missing = missing_requirements()
    if not missing:
        return
    message = "Open WebUI e2e needs " + "; ".join(missing) + " (`make e2e-deps` installs all of it)"
    if os.environ.get("CI") == "true":
        pytest.fail("under CI the e2e test must run: " + message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def e2e_haiku_gguf(request: pytest.FixtureRequest) -> tuple[Path, str]:
    """(GGUF, label) of the haiku model: $GEMMAIKU_E2E_HAIKU_GGUF, else the pipeline's fine-tuned
    GGUF (the ``haiku_gguf`` fixture), else, while that cannot be built (no shipped adapter yet),
    the base Q4_K_M, with which the haiku assertion is expected to fail; the label says which."""
    explicit = os.environ.get("GEMMAIKU_E2E_HAIKU_GGUF")
    if explicit:
        return Path(explicit), f"$GEMMAIKU_E2E_HAIKU_GGUF ({explicit})"
    from gemmaiku.errors import GemmaikuError

    try:
        return Path(request.getfixturevalue("haiku_gguf")), "fine-tuned (haiku_gguf fixture)"
    except pytest.FixtureLookupError:
        why = "no haiku_gguf fixture yet"
    except GemmaikuError as exc:  # e.g. the shipped adapter is not in the tree yet
        why = f"haiku_gguf failed: {exc}"
    return Path(
        request.getfixturevalue("base_gguf")
    ), f"BASE Q4_K_M, expected to fail the haiku check ({why})"


@pytest.fixture(scope="session")
def e2e_artifacts() -> Path:
    """Screenshots and logs: $GEMMAIKU_ARTIFACTS/open-webui-e2e or tests/e2e/artifacts (git-ignored)."""
    root = (
        Path(os.environ["GEMMAIKU_ARTIFACTS"])
        if os.environ.get("GEMMAIKU_ARTIFACTS")
        else REPO_ROOT / "tests" / "e2e" / "artifacts"
    )
    folder = root / "open-webui-e2e" if os.environ.get("GEMMAIKU_ARTIFACTS") else root
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Stack:
    server_url: str
    webui_url: str
    recorder: Any
    decisions: list
    haiku_label: str
    webui_log: Path


@pytest.fixture(scope="module")
def webui_stack(e2e_haiku_gguf, e2e_artifacts: Path, tmp_path_factory: pytest.TempPathFactory):
    """Our server (haiku model with guarded generation, SmolLM2, the router) in a thread, with a
    recorder around it, and Open WebUI started against it, offline, on a fresh data folder."""
    require_e2e_tools()
    from gemmaiku.modelfile.write import gemmaiku_modelfile
    from gemmaiku.serve import Registry, ServeSettings, create_app
    from gemmaiku.serve.cli import add_guards_and_router, smollm2_gguf
    from gemmaiku.serve.registry import served_from_gguf, served_from_modelfile_object
    from gemmaiku.serve.webui import free_port, start_webui
    from gemmaiku.serve.webui_cli import ServerThread
    from tests.e2e.stack import CappedEngine, Recorder, record_decisions

    haiku_path, label = e2e_haiku_gguf
    registry = Registry([haiku_path.parent])
    # The haiku model as the pipeline ships it: Gemmaiku's Modelfile (SYSTEM, TEMPLATE, parameters).
    haiku = served_from_modelfile_object(
        "gemmaiku", gemmaiku_modelfile(haiku_path), n_threads=THREADS
    )
    prose = served_from_gguf("smollm2", smollm2_gguf(), n_threads=THREADS)
    prose.engine = CappedEngine(prose.engine, PROSE_MAX_TOKENS)
    for served in (haiku, prose):
        served.digest  # noqa: B018 - hash now, not during Open WebUI's first /api/tags
        registry.add(served)
    add_guards_and_router(registry, (f"gemmaiku={HAIKU_CANDIDATES}",), "gemmaiku,smollm2")
    decisions = record_decisions(registry.get("gemmaiku-router"))
    recorder = Recorder(create_app(registry, ServeSettings()))
    server = ServerThread(recorder)
    server_url = server.start()
    log = e2e_artifacts / "open-webui.log"
    data_dir = tmp_path_factory.mktemp("open-webui-data")
    try:
        webui = start_webui(server_url, port=free_port(), data_dir=data_dir, log_path=log)
    except BaseException:
        server.stop()
        raise
    try:
        yield Stack(server_url, webui.url, recorder, decisions, label, log)
    finally:
        webui.stop()
        server.stop()
        for _, model in registry.items():
            engine = getattr(model, "engine", None)
            if engine is not None:
                engine.unload()


@dataclass
class ChatRun:
    """What the browser saw and the server recorded over the scripted conversation."""

    haiku_prompt: str
    code_prompt: str
    haiku_reply: str = ""
    code_reply: str = ""
    code_reply_has_code: bool = False
    title_api: str = ""
    title_page: str = ""
    code_title: str = ""
    screenshots: list[Path] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
