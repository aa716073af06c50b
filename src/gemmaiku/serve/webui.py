"""Bring up Open WebUI in front of `gemmaiku serve`, offline, with one command.

Open WebUI is an optional, separate install (it pins hundreds of packages): by default it is
looked up in ``.venv-webui/bin/open-webui`` (what ``make webui-venv`` creates), then on PATH, or given
with ``--webui-bin``/``$OPEN_WEBUI_BIN``. It talks to our server as if it were Ollama.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from gemmaiku.errors import GemmaikuError

# Settings Open WebUI needs to start offline and fast (measured: ~14 s instead of ~70 s of hub
# retries) and to use our server as its only Ollama.
OFFLINE_ENV = {
    "OFFLINE_MODE": "true",
    "HF_HUB_OFFLINE": "1",
    "RAG_EMBEDDING_ENGINE": "ollama",
    "ENABLE_OPENAI_API": "false",
    "ENABLE_OLLAMA_API": "true",
    "ENABLE_VERSION_UPDATE_CHECK": "false",
    "ENABLE_COMMUNITY_SHARING": "false",
    "ANONYMIZED_TELEMETRY": "false",
    "DO_NOT_TRACK": "true",
    "SCARF_NO_ANALYTICS": "true",
}

# A title prompt a 135M prose model can follow. Open WebUI's own (a page of JSON rules) makes
# SmolLM2 copy its example ("Your concise title here") or echo the rules; this one, with the reply
# decoded under a {"title": "..."} grammar, gives "snow", "reverse a string in Python" (docs/webui.md).
# "### Task:" and "<chat_history>" keep the router's background-task rule matching.
TITLE_PROMPT = """What is this chat about? Answer with a title of 2 to 5 words.
### Task: title
<chat_history>
{{MESSAGES:END:2}}
</chat_history>"""

# Background tasks (title, tags, follow-ups) go to the prose model through the router. Open WebUI
# asks for up to 1000 tokens each; a JSON title or tag list needs a few dozen, and on two cores
# a small model rambling for 1000 tokens holds the compute slot (and the user's next turn) for
# minutes. Saved in DATA_DIR on the first start, like every setting from the environment.
TASK_ENV = {
    "TASK_MODEL_PARAMS": '{"max_tokens": 128}',
    "TITLE_GENERATION_PROMPT_TEMPLATE": TITLE_PROMPT,
}


def find_webui_bin(explicit: str | None = None) -> Path:
    candidates = [explicit, os.environ.get("OPEN_WEBUI_BIN"), str(Path(".venv-webui") / "bin" / "open-webui"),
                  shutil.which("open-webui")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise GemmaikuError("Open WebUI is not installed (run `make webui-venv`, or pip install open-webui "
                        "and pass --webui-bin PATH)")


def _die_with_parent() -> None:
    """Linux: ask the kernel to stop Open WebUI when the process that started it dies."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class WebUI:
    process: subprocess.Popen
    url: str
    data_dir: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_webui(ollama_url: str, *, port: int, data_dir: Path, webui_bin: str | None = None,
                secret: str = "gemmaiku-local", extra_env: dict[str, str] | None = None,
                log_path: Path | None = None, timeout_s: float = 180.0) -> WebUI:
    """Start `open-webui serve` against ``ollama_url`` and wait until /health answers."""
    binary = find_webui_bin(webui_bin)
    data_dir.mkdir(parents=True, exist_ok=True)
    env = os.environ | OFFLINE_ENV | TASK_ENV | {
        "OLLAMA_BASE_URL": ollama_url, "DATA_DIR": str(data_dir), "WEBUI_SECRET_KEY": secret,
    } | (extra_env or {})
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    process = subprocess.Popen([str(binary), "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    webui = WebUI(process, f"http://127.0.0.1:{port}", data_dir)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise GemmaikuError(f"Open WebUI exited with status {process.returncode} (see {log_path or 'its output'})")
        try:
            if httpx.get(f"{webui.url}/health", timeout=2).status_code == 200:
                return webui
        except httpx.HTTPError:
            pass
        time.sleep(1)
    webui.stop()
    raise GemmaikuError(f"Open WebUI did not answer on {webui.url} within {timeout_s:.0f} s")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
