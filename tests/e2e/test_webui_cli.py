"""`gemmaiku webui`: one command brings up our server and Open WebUI; Ctrl-C stops both."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import require_e2e_tools

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

READY = re.compile(r"Open WebUI on (http://\S+)\s+\(our server: (http://[^;]+);")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_webui_brings_up_both_and_ctrl_c_stops_both(tmp_path: Path) -> None:
    require_e2e_tools()
    from gemmaiku.serve.webui import free_port

    command = [
        str(Path(sys.executable).parent / "gemmaiku"),
        "webui",
        "--smollm2",
        "--port",
        "0",
        "--webui-port",
        str(free_port()),
        "--data-dir",
        str(tmp_path / "webui"),
    ]
    process = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"GEMMAIKU_HOME": os.environ.get("GEMMAIKU_HOME", str(tmp_path))},
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 240
        match = None
        while match is None and time.monotonic() < deadline and process.poll() is None:
            line = process.stderr.readline()
            lines.append(line)
            match = READY.search(line)
        assert match, "gemmaiku webui did not report both URLs:\n" + "".join(lines)
        webui_url, server_url = match.groups()
        assert httpx.get(f"{webui_url}/health", timeout=10).status_code == 200
        names = [
            m["name"] for m in httpx.get(f"{server_url}/api/tags", timeout=10).json()["models"]
        ]
        assert "smollm2:latest" in names
        webui_pids = children(process.pid)
        assert webui_pids, "Open WebUI is not a child of gemmaiku webui"

        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        assert not any(alive(pid) for pid in webui_pids), "Open WebUI outlived gemmaiku webui"
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{server_url}/api/tags", timeout=3)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
