"""Open WebUI in front of `gemmaiku serve`, driven by headless Chromium, end to end.

Two chats in the browser, both with the router model `gemmaiku-router` picked in the UI: a
haiku-worthy prompt, then, in a NEW chat, a code question. (A new chat, because in the same chat
SmolLM2-135M sees the haiku turn and answers the code question with more poetry; a user asking
for code in a fresh chat is the case the router is for.) The server records every request
Open WebUI makes and every routing decision. Asserted on the page and in those records:

- the first reply is a valid 5-7-5 haiku by our validator (guarded generation on);
- the second reply came from the prose model (SmolLM2) and is visibly code, not a haiku;
- the first chat got a title written by the prose model (not "New Chat", not the user's message);
- the server took every request (title, main with ~36 tool definitions, follow-ups, tags)
  without a 4xx/5xx, and routed every background task to prose.

Run: `make e2e` (or `pytest -m e2e tests/e2e`). Screenshots, the request log and Open WebUI's log
go to tests/e2e/artifacts/ (or $GEMMAIKU_ARTIFACTS/open-webui-e2e).
"""

from __future__ import annotations

import json

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
    chat_title,
    css,
    current_chat_id,
    lines_of,
    make_driver,
    page_has_text,
    pick_model,
    reply_has_code,
    send,
    sign_up,
    titled,
    token,
    wait_for,
    wait_reply,
)
from tests.e2e.conftest import ChatRun

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(3600)]



@pytest.fixture(scope="module")
def chat_run(webui_stack, e2e_artifacts, tmp_path_factory, request) -> ChatRun:
    recorder = webui_stack.recorder
    run = ChatRun(HAIKU_PROMPT, CODE_PROMPT)
    driver = make_driver(tmp_path_factory.mktemp("chromium-profile"))

    def shot(name: str) -> None:
        path = e2e_artifacts / f"{len(run.screenshots) + 1:02d}-{name}.png"
        if driver.save_screenshot(str(path)):
            run.screenshots.append(path)

    try:
        sign_up(driver, webui_stack.webui_url)
        pick_model(driver, ROUTER)
        shot("signed-up-router-picked")

        send(driver, HAIKU_PROMPT)
        run.haiku_reply = wait_reply(driver, 1, REPLY_TIMEOUT_S)
        shot("haiku-reply")
        # Open WebUI asks for a title (before the reply), follow-ups and tags (after it).
        recorder.wait(
            lambda: all(recorder.chats(kind) for kind in ("follow_ups", "title", "tags")),
            TASKS_TIMEOUT_S,
        )
        bearer = token(driver)
        run.title_api = titled(webui_stack.webui_url, bearer, current_chat_id(driver))
        run.title_page = (
            run.title_api
            if wait_for(lambda: page_has_text(driver, run.title_api), 30, "the title on the page")
            else ""
        )
        shot("haiku-chat-titled")

        driver.get(webui_stack.webui_url)  # a new chat
        wait_for(
            lambda: css(driver, "#chat-input") and not css(driver, "div.chat-assistant"),
            60,
            "a new chat",
        )
        pick_model(driver, ROUTER)
        send(driver, CODE_PROMPT)
        run.code_reply = wait_reply(driver, 1, REPLY_TIMEOUT_S)
        run.code_reply_has_code = reply_has_code(driver, 1)
        shot("code-reply")
        recorder.wait(lambda: len(recorder.chats("tags")) >= 2, TASKS_TIMEOUT_S)
        run.code_title = chat_title(webui_stack.webui_url, bearer, current_chat_id(driver))
        shot("code-chat-done")
    except BaseException:
        shot("failure")
        (e2e_artifacts / "failure-page.html").write_text(driver.page_source)
        raise
    finally:
        run.requests = recorder.dump()
        (e2e_artifacts / "requests.json").write_text(json.dumps(run.requests, indent=2) + "\n")
        (e2e_artifacts / "decisions.json").write_text(
            json.dumps([vars(d) for d in webui_stack.decisions], indent=2) + "\n"
        )
        driver.quit()
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"\nOpen WebUI e2e (haiku model: {webui_stack.haiku_label}); "
                f"titles: {run.title_api!r}, {run.code_title!r}; artifacts:"
            )
            for path in [
                *run.screenshots,
                e2e_artifacts / "requests.json",
                e2e_artifacts / "decisions.json",
                webui_stack.webui_log,
            ]:
                reporter.write_line(f"  {path}")
    return run


def main_turns(stack) -> list:
    return stack.recorder.chats("main")


def test_first_reply_is_a_valid_haiku(chat_run: ChatRun, webui_stack) -> None:
    first = main_turns(webui_stack)[0]
    assert (first.route, first.route_model) == ("haiku", "gemmaiku:latest"), first.summary()
    assert first.guard is not None, "guarded generation was not on for the haiku model"
    text = lines_of(chat_run.haiku_reply)
    verdict = check_haiku(text)
    assert verdict.ok, (
        f"the page's first reply is not a valid 5-7-5 haiku (model: {webui_stack.haiku_label}; "
        f"guard: {first.guard}):\n{text}\n{verdict}"
    )
    assert text == lines_of(first.reply), "the page shows something else than the server sent"


def test_code_question_answered_by_the_prose_model(chat_run: ChatRun, webui_stack) -> None:
    second = main_turns(webui_stack)[1]
    assert second.user_text.strip() == CODE_PROMPT
    assert (second.route, second.route_model) == ("prose", "smollm2:latest"), second.summary()
    assert [d.route for d in webui_stack.decisions if d.kind == "main"] == ["haiku", "prose"]
    text = lines_of(chat_run.code_reply)
    assert text, "the second reply is empty on the page"
    assert not check_haiku(text).ok, f"the prose model's reply reads as a haiku:\n{text}"
    looks_like_code = chat_run.code_reply_has_code or any(
        w in text for w in ("def ", "return", "[::-1]", "reverse")
    )
    assert looks_like_code, f"the second reply shows no code:\n{text}"


def test_chat_got_a_prose_title(chat_run: ChatRun, webui_stack) -> None:
    titles = webui_stack.recorder.chats("title")
    assert titles, "Open WebUI sent no title request"
    assert all((t.route, t.route_model) == ("prose", "smollm2:latest") for t in titles), [
        t.summary() for t in titles
    ]
    assert all(d.route == "prose" for d in webui_stack.decisions if d.kind == "title")
    title = chat_run.title_api.strip()
    assert title and title != DEFAULT_TITLE
    assert title.lower() != HAIKU_PROMPT.lower(), (
        "the title is the user's message: the title reply was not JSON"
    )
    assert title.lower() not in TEMPLATE_TITLES, (
        f"the title {title!r} is copied from Open WebUI's prompt"
    )
    assert chat_run.title_page == chat_run.title_api, "the title is not shown on the page"


def test_server_took_every_request(chat_run: ChatRun, webui_stack) -> None:
    recorder = webui_stack.recorder
    failed = [e.summary() for e in recorder.exchanges if e.status is None or e.status >= 400]
    assert not failed, f"requests the server refused or failed: {failed}"
    kinds = [e.kind for e in recorder.chats()]
    for kind in ("main", "title", "tags", "follow_ups"):
        assert kind in kinds, f"no {kind} request reached the server: {kinds}"
    mains = main_turns(webui_stack)
    assert len(mains) == 2
    assert all(m.stream and m.tools >= 20 for m in mains), [(m.stream, m.tools) for m in mains]
    assert len(recorder.chats("title")) == 2, "one title request per chat"
    background = [e for e in recorder.chats() if e.kind != "main"]
    assert all(e.route == "prose" for e in background), [e.summary() for e in background]
    assert len(webui_stack.decisions) == len(recorder.chats())


def test_artifacts_saved(chat_run: ChatRun) -> None:
    assert len(chat_run.screenshots) >= 4
    assert all(path.stat().st_size > 1000 for path in chat_run.screenshots)
