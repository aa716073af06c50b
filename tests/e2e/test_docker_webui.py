"""docker-compose.yml brought up for real: Open WebUI's image in front of `gemmaiku serve`'s image,
driven by headless Chromium, then Open WebUI's container replaced to show its volume keeps the chats.

The stack (tests/e2e/docker_stack.py) runs both images on the host's network, on loopback, with
the fine-tuned model mounted into the server's container as `make run` leaves artifacts/. In the
browser, with `gemmaiku-router` picked: a poem request, then, in a new chat, a code question (as in
test_open_webui.py). The server's log holds every routing decision. Asserted:

- the poem request got a valid 5-7-5 haiku on the page, and it is the only request routed to the
  haiku model;
- the code question got prose with code, from the prose model;
- the chat got a title from the prose model (not "New Chat", not the user's message);
- after `docker-compose up --force-recreate open-webui` (a new container on the same volume) the
  account, both chats and their titles are still there, and the page shows the haiku again;
- both services listen on 127.0.0.1 only.

Run: `make images`, then `pytest -m e2e tests/e2e/test_docker_webui.py`. Screenshots, both
containers' logs and timings.json (start time, memory) go to tests/e2e/artifacts/docker/ (or
$GEMMAIKU_ARTIFACTS/open-webui-docker-e2e).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from gemmaiku.prosody import check_haiku
from tests.e2e.browser import (
    CODE_PROMPT,
    DEFAULT_TITLE,
    HAIKU_PROMPT,
    REPLY_TIMEOUT_S,
    ROUTER,
    TASKS_TIMEOUT_S,
    TEMPLATE_TITLES,
    USER,
    current_chat_id,
    lines_of,
    make_driver,
    new_chat,
    pick_model,
    reply_has_code,
    send,
    sign_up,
    titled,
    token,
    wait_for,
    wait_reply,
)
from tests.e2e.docker_stack import ComposeStack, listening_addresses, missing_docker, models_folder

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(3600)]



def require_docker_e2e() -> None:
    from tests.e2e.browser import CHROMEDRIVER, CHROMIUM

    missing = missing_docker()
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        missing.append("chromium and chromium-driver (`make chromium`)")
    if missing:
        message = "the Docker e2e test needs " + "; ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail("under CI the Docker e2e test must run: " + message, pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="module")
def artifacts() -> Path:
    root = os.environ.get("GEMMAIKU_ARTIFACTS")
    folder = Path(root) / "open-webui-docker-e2e" if root else Path(__file__).parent / "artifacts" / "docker"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*"):
        old.unlink()
    return folder


@pytest.fixture(scope="module")
def stack(e2e_haiku_gguf, artifacts, tmp_path_factory):
    """The compose stack, up and answering; torn down (containers, network, volume) at the end."""
    require_docker_e2e()
    from gemmaiku.serve.webui import free_port

    gguf, _label = e2e_haiku_gguf
    work = tmp_path_factory.mktemp("compose")
    compose = ComposeStack(project=f"gemmaiku-e2e-{os.getpid()}", models=models_folder(gguf, work / "models"),
                           work=work, webui_port=free_port(), server_port=free_port(),
                           threads=min(2, len(os.sched_getaffinity(0))))
    try:
        compose.up()
        compose.timings["up_to_ready_s"] = round(compose.wait_ready(), 1)
        yield compose
    finally:
        for service in ("open-webui", "gemmaiku"):
            try:
                (artifacts / f"{service}.log").write_text(compose.logs(service))
            except Exception as exc:  # noqa: BLE001 - keep tearing down
                (artifacts / f"{service}.log").write_text(f"no logs: {exc}")
        (artifacts / "timings.json").write_text(json.dumps(compose.timings, indent=2) + "\n")
        compose.down()


@dataclass
class DockerRun:
    haiku_reply: str = ""
    code_reply: str = ""
    code_reply_has_code: bool = False
    title: str = ""
    chats_before: dict[str, str] = field(default_factory=dict)  # id -> title
    chats_after: dict[str, str] = field(default_factory=dict)
    containers: tuple[str, str] = ("", "")
    haiku_after_restart: str = ""
    routes: list[tuple[str, str]] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)


def chats(url: str, bearer: str) -> dict[str, str]:
    response = httpx.get(f"{url}/api/v1/chats/", headers={"Authorization": f"Bearer {bearer}"}, timeout=30)
    response.raise_for_status()
    return {chat["id"]: chat["title"] for chat in response.json()}


def sign_in(url: str) -> str:
    from gemmaiku.bench.throughput import webui_token

    return webui_token(url, USER["email"], USER["password"])


def routed_at_least(stack: ComposeStack, count: int, timeout_s: float) -> None:
    """Wait until the router has taken ``count`` requests (each chat turn sends title, main,
    follow-ups and tags through it), then a little longer for the last one to finish."""
    wait_for(lambda: len(stack.routes()) >= count, timeout_s, f"{count} routed requests", poll_s=2)


@pytest.fixture(scope="module")
def docker_run(stack: ComposeStack, artifacts: Path, tmp_path_factory, request) -> DockerRun:
    run = DockerRun()
    driver = make_driver(tmp_path_factory.mktemp("chromium-profile"))

    def shot(name: str) -> None:
        path = artifacts / f"{len(run.screenshots) + 1:02d}-{name}.png"
        if driver.save_screenshot(str(path)):
            run.screenshots.append(path)

    try:
        sign_up(driver, stack.webui_url)
        pick_model(driver, ROUTER)
        send(driver, HAIKU_PROMPT)
        run.haiku_reply = wait_reply(driver, 1, REPLY_TIMEOUT_S)
        haiku_chat = current_chat_id(driver)
        shot("haiku-reply")
        bearer = token(driver)
        run.title = titled(stack.webui_url, bearer, haiku_chat, timeout_s=TASKS_TIMEOUT_S)
        routed_at_least(stack, 4, TASKS_TIMEOUT_S)

        new_chat(driver, stack.webui_url)
        pick_model(driver, ROUTER)
        send(driver, CODE_PROMPT)
        run.code_reply = wait_reply(driver, 1, REPLY_TIMEOUT_S)
        run.code_reply_has_code = reply_has_code(driver, 1)
        shot("code-reply")
        routed_at_least(stack, 8, TASKS_TIMEOUT_S)
        run.chats_before = chats(stack.webui_url, bearer)
        stack.timings["memory_mib_after_chats"] = {s: stack.memory_mib(s) for s in ("open-webui", "gemmaiku")}

        # A new Open WebUI container on the same named volume.
        old = stack.container_id("open-webui")
        stack.up("open-webui", recreate=True)
        stack.timings["recreate_to_ready_s"] = round(stack.wait_ready(), 1)
        stack.timings["memory_mib_after_restart"] = {"open-webui": stack.memory_mib("open-webui")}
        run.containers = (old, stack.container_id("open-webui"))
        run.chats_after = chats(stack.webui_url, sign_in(stack.webui_url))
        driver.get(f"{stack.webui_url}/c/{haiku_chat}")
        run.haiku_after_restart = wait_reply(driver, 1, 60)
        shot("haiku-chat-after-restart")
        run.routes = stack.routes()
    except BaseException:
        shot("failure")
        (artifacts / "failure-page.html").write_text(driver.page_source)
        raise
    finally:
        driver.quit()
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"\nOpen WebUI Docker e2e: title {run.title!r}; timings {stack.timings}; "
                                f"routes {run.routes}; artifacts in {artifacts}")
    return run


def test_poem_request_gets_a_haiku_from_the_haiku_model(docker_run: DockerRun) -> None:
    text = lines_of(docker_run.haiku_reply)
    verdict = check_haiku(text)
    assert verdict.ok, f"the page's reply is not a valid 5-7-5 haiku:\n{text}\n{verdict}"
    haiku_routes = [r for r in docker_run.routes if r[1] == "haiku"]
    assert haiku_routes == [("gemmaiku:latest", "haiku")], docker_run.routes


def test_code_question_answered_by_the_prose_model(docker_run: DockerRun) -> None:
    text = lines_of(docker_run.code_reply)
    assert text, "the second reply is empty on the page"
    assert not check_haiku(text).ok, f"the prose model's reply reads as a haiku:\n{text}"
    assert docker_run.code_reply_has_code or any(w in text for w in ("def ", "return", "[::-1]")), text
    prose = [r for r in docker_run.routes if r[1] == "prose"]
    # per chat a title, follow-ups and tags, plus the code question itself
    assert len(prose) >= 7 and all(target == "smollm2:latest" for target, _ in prose), docker_run.routes


def test_chat_got_a_prose_title(docker_run: DockerRun) -> None:
    title = docker_run.title.strip()
    assert title and title != DEFAULT_TITLE
    assert title.lower() != HAIKU_PROMPT.lower(), "the title is the user's message: the reply was not JSON"
    assert title.lower() not in TEMPLATE_TITLES, f"the title {title!r} is copied from Open WebUI's prompt"


def test_chats_survive_a_new_container(docker_run: DockerRun, stack: ComposeStack) -> None:
    old, new = docker_run.containers
    assert old and new and old != new, "Open WebUI's container was not replaced"
    assert len(docker_run.chats_before) == 2
    assert docker_run.chats_after == docker_run.chats_before
    assert lines_of(docker_run.haiku_after_restart) == lines_of(docker_run.haiku_reply)


def test_services_listen_on_loopback_only(docker_run: DockerRun, stack: ComposeStack) -> None:
    assert listening_addresses(stack.webui_port) == {"127.0.0.1"}
    assert listening_addresses(stack.server_port) == {"127.0.0.1"}
