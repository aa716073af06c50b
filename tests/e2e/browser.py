"""Headless Chromium (Debian's package) driving Open WebUI 0.12 through Selenium.

Selectors are the ones recorded in shared/REFERENCE.md (Open WebUI section).
"""

from __future__ import annotations

import time
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

CHROME_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
]

USER = {"name": "Gemmaiku Tester", "email": "tester@example.com", "password": "correct-horse-9"}
DEFAULT_TITLE = "New Chat"
# The conversation both Open WebUI tests (pip and Docker) hold with the router.
ROUTER = "gemmaiku-router:latest"
HAIKU_PROMPT = "Write a haiku about the first snow on a quiet village"
CODE_PROMPT = "Write a Python function that returns the reverse of a string"
REPLY_TIMEOUT_S = 900  # guarded generation decodes 4 candidates per line; CI's 2 cores may be busy
TASKS_TIMEOUT_S = 600  # title, follow-ups and tags run one at a time around each reply
# The examples in Open WebUI 0.12's title prompt: a small model that copies one has not titled the chat.
TEMPLATE_TITLES = {
    "your concise title here",
    "stock trends",
    "chocolate chip cookies",
    "music streaming",
    "remote work",
}


def make_driver(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROME_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(120)
    return driver


def wait_for(condition, timeout_s: float, what: str, poll_s: float = 0.5):
    """Poll ``condition()`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - stale elements while the page re-renders
            last_error = exc
        time.sleep(poll_s)
    raise TimeoutError(
        f"timed out after {timeout_s:.0f} s waiting for {what}"
        + (f" (last error: {last_error})" if last_error else "")
    )


def css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def button_with_text(driver, text: str):
    from selenium.webdriver.common.by import By

    return [
        b
        for b in driver.find_elements(By.XPATH, f'//button[contains(., "{text}")]')
        if b.is_displayed()
    ]


def sign_up(driver, url: str) -> None:
    """The first account on a fresh Open WebUI becomes its admin."""
    driver.get(url)
    wait_for(
        lambda: css(driver, "input#email") or button_with_text(driver, "Get started"),
        90,
        "the sign-up page",
    )
    for button in button_with_text(driver, "Get started"):
        button.click()
    wait_for(lambda: css(driver, "input#email"), 30, "the sign-up form")
    for name_field in css(driver, "input#name"):
        name_field.send_keys(USER["name"])
    css(driver, "input#email")[0].send_keys(USER["email"])
    css(driver, "input#password")[0].send_keys(USER["password"])
    css(driver, "button[type='submit']")[0].click()
    wait_for(lambda: css(driver, "#chat-input"), 90, "the chat page after sign-up")
    try:  # the first-login dialog ("Okay, Let's Go!") appears a moment later, if at all
        wait_for(lambda: button_with_text(driver, "Okay, Let's Go!"), 10, "the welcome dialog")
        button_with_text(driver, "Okay, Let's Go!")[0].click()
    except TimeoutError:
        pass


def pick_model(driver, model: str) -> None:
    wait_for(lambda: css(driver, "#model-selector-model-button"), 30, "the model picker")
    css(driver, "#model-selector-model-button")[0].click()
    option = wait_for(
        lambda: css(driver, f"button[data-value='{model}']"), 30, f"model {model} in the picker"
    )
    option[0].click()
    wait_for(
        lambda: model.split(":")[0] in css(driver, "#model-selector-model-button")[0].text,
        10,
        f"{model} to be selected",
    )


def send(driver, text: str) -> None:
    box = wait_for(lambda: css(driver, "#chat-input"), 30, "the chat input")[0]
    box.click()
    box.send_keys(text)
    wait_for(
        lambda: (
            css(driver, "#send-message-button")
            and css(driver, "#send-message-button")[0].is_enabled()
        ),
        10,
        "the send button",
    )
    css(driver, "#send-message-button")[0].click()


def wait_reply(driver, count: int, timeout_s: float) -> str:
    """The text of the ``count``-th assistant reply, once finished (its Regenerate button shows)."""
    wait_for(
        lambda: len(css(driver, "button[aria-label='Regenerate']")) >= count,
        timeout_s,
        f"assistant reply {count} to finish",
    )
    return reply_text(driver, count)


def reply_text(driver, number: int) -> str:
    replies = css(driver, "div.chat-assistant #response-content-container")
    return replies[number - 1].text if len(replies) >= number else ""


def reply_has_code(driver, number: int) -> bool:
    replies = css(driver, "div.chat-assistant #response-content-container")
    if len(replies) < number:
        return False
    from selenium.webdriver.common.by import By

    return bool(replies[number - 1].find_elements(By.CSS_SELECTOR, "pre, code, .cm-editor"))


def page_has_text(driver, text: str) -> bool:
    from selenium.webdriver.common.by import By

    return text in driver.find_element(By.TAG_NAME, "body").text


def token(driver) -> str:
    return driver.execute_script("return localStorage.token") or ""


def lines_of(text: str) -> str:
    """Page text as a haiku: one line per rendered line, blank lines and edge spaces dropped."""
    return "\n".join(line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip())


def chat_title(webui_url: str, bearer: str, chat_id: str) -> str:
    import httpx

    response = httpx.get(
        f"{webui_url}/api/v1/chats/{chat_id}",
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json().get("title") or ""


def current_chat_id(driver) -> str:
    return wait_for(
        lambda: (
            "/c/" in driver.current_url and driver.current_url.rsplit("/c/", 1)[1].split("?")[0]
        ),
        30,
        "the chat's URL",
    )


def titled(webui_url: str, bearer: str, chat_id: str, timeout_s: float = 60) -> str:
    """The chat's title once Open WebUI has replaced the default."""
    return wait_for(
        lambda: (t := chat_title(webui_url, bearer, chat_id)) != DEFAULT_TITLE and t,
        timeout_s,
        "the chat's title (API)",
    )


def new_chat(driver, url: str) -> None:
    driver.get(url)
    wait_for(
        lambda: css(driver, "#chat-input") and not css(driver, "div.chat-assistant"),
        60,
        "a new chat",
    )
