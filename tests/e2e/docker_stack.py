"""docker-compose.yml brought up for the Docker e2e test: host networking, loopback only.

The stack is the repository's compose file with `docker/compose.host.yml` over it and the `serve`
profile: Open WebUI's image and `gemmaiku serve`'s image, both on the host's network, listening on
127.0.0.1 at free ports, under a project name of their own (containers, network and the
Open WebUI data volume are the test's, removed by :meth:`ComposeStack.down`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from gemmaiku.bench.throughput import OPEN_WEBUI_IMAGE, SERVE_IMAGE, docker_cpuset_args
from tests import REPO_ROOT

COMPOSE_FILES = (REPO_ROOT / "docker-compose.yml", REPO_ROOT / "docker" / "compose.host.yml")
IMAGES = (OPEN_WEBUI_IMAGE, SERVE_IMAGE)
# gemmaiku.serve.streaming logs one line per routed request
ROUTED = re.compile(r"gemmaiku-router(?::\S+)? routed to (\S+) \((\w+), confidence ([\d.]+)\)")


def missing_docker() -> list[str]:
    """What the Docker e2e test needs and this machine lacks, each with its fix."""
    if not shutil.which("docker") or not shutil.which("docker-compose"):
        return ["docker and docker-compose (`make docker-tools`: Debian's docker.io, docker-compose)"]
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return ["a running Docker daemon (as root: `dockerd > /var/log/dockerd.log 2>&1 &`)"]
    absent = [tag for tag in IMAGES
              if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0]
    return [f"the images {', '.join(absent)} (`make images`)"] if absent else []


def models_folder(gguf: Path, folder: Path) -> Path:
    """A folder as `make run` leaves artifacts/: the GGUF and Gemmaiku's Modelfile beside it."""
    from gemmaiku.modelfile.write import gemmaiku_modelfile, write_modelfile

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "gemmaiku.gguf"
    try:
        os.link(gguf, target)
    except OSError:  # another filesystem
        shutil.copyfile(gguf, target)
    write_modelfile(gemmaiku_modelfile(target), folder / "Modelfile")
    return folder


@dataclass
class ComposeStack:
    project: str
    models: Path
    work: Path
    webui_port: int
    server_port: int
    threads: int
    files: list[Path] = field(default_factory=list)
    timings: dict = field(default_factory=dict)  # seconds to ready, memory: for the docs

    def __post_init__(self) -> None:
        self.files = [*COMPOSE_FILES]
        cpuset = docker_cpuset_args()
        if cpuset:  # the containers get the CPUs this test may use (they do not inherit taskset)
            override = self.work / "compose.cpuset.yml"
            override.write_text("services:\n" + "".join(
                f"  {service}:\n    cpuset: \"{cpuset[1]}\"\n" for service in ("open-webui", "gemmaiku")))
            self.files.append(override)

    @property
    def webui_url(self) -> str:
        return f"http://127.0.0.1:{self.webui_port}"

    @property
    def server_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def compose(self, *args: str, timeout_s: float = 600) -> str:
        env = os.environ | {
            "GEMMAIKU_MODELS": str(self.models), "WEBUI_PORT": str(self.webui_port),
            "GEMMAIKU_PORT": str(self.server_port), "GEMMAIKU_THREADS": str(self.threads),
            "WEBUI_SECRET_KEY": "gemmaiku-e2e", "OPEN_WEBUI_IMAGE": OPEN_WEBUI_IMAGE,
            "GEMMAIKU_SERVE_IMAGE": SERVE_IMAGE,
        }
        command = ["docker-compose", "--project-name", self.project, "--project-directory", str(REPO_ROOT),
                   *[a for f in self.files for a in ("--file", str(f))], "--profile", "serve", *args]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command[-len(args):])} failed: {result.stderr.strip()[-800:]}")
        return result.stdout

    def up(self, *services: str, recreate: bool = False) -> None:
        self.compose("up", "--detach", *(["--force-recreate", "--no-deps"] if recreate else []), *services)

    def down(self) -> None:
        self.compose("down", "--volumes", "--timeout", "20")

    def container_id(self, service: str) -> str:
        return self.compose("ps", "--quiet", service).strip()

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", service)

    def volume(self) -> str:
        """The Docker volume holding Open WebUI's data."""
        return f"{self.project}_open-webui"

    def wait_ready(self, timeout_s: float = 900) -> float:
        """Seconds until our server's /api/version and Open WebUI's /health both answer."""
        started = time.monotonic()
        pending = {f"{self.server_url}/api/version", f"{self.webui_url}/health"}
        while pending:
            for url in list(pending):
                try:
                    if httpx.get(url, timeout=2).status_code == 200:
                        pending.discard(url)
                except httpx.HTTPError:
                    pass
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"no answer within {timeout_s:.0f} s from {sorted(pending)}; "
                                   f"logs:\n{self.logs('open-webui')[-1500:]}\n{self.logs('gemmaiku')[-1500:]}")
            time.sleep(0.5)
        return time.monotonic() - started

    def memory_mib(self, service: str) -> float | None:
        from gemmaiku.bench.throughput import container_memory_mib

        return container_memory_mib(self.container_id(service))

    def routes(self) -> list[tuple[str, str]]:
        """(target, route) of every request the router took, in order, from our server's log."""
        return [(m.group(1), m.group(2)) for m in ROUTED.finditer(self.logs("gemmaiku"))]


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (IPv4 and IPv6), from /proc."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                found.add(_address(address))
    return found


def _address(hex_address: str) -> str:
    import ipaddress

    raw = bytes.fromhex(hex_address)
    # /proc stores each 32-bit word in host (little-endian) order
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))
