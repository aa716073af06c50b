"""`gemmaiku webui`: our server and Open WebUI in front of it, brought up (and down) together.

The server runs in this process (uvicorn in a thread), Open WebUI as a child process pointed at
it through OLLAMA_BASE_URL, offline. Ctrl-C stops both. The e2e test uses the same pieces
(:class:`ServerThread`, :func:`gemmaiku.serve.webui.start_webui`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gemmaiku.errors import GemmaikuError

if TYPE_CHECKING:
    from gemmaiku.serve.limits import Limits


class ServerThread:
    """An ASGI app served by uvicorn in a daemon thread; ``port=0`` picks a free port."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, limits: Limits | None = None) -> None:
        import uvicorn

        from gemmaiku.serve.door import server_config
        from gemmaiku.serve.limits import Limits

        # the same uvicorn set-up as `gemmaiku serve` (its header timeout among it)
        self.server = uvicorn.Server(server_config(app, host, port, limits or Limits()))
        self.thread = threading.Thread(target=self.server.run, name="gemmaiku-serve", daemon=True)
        self.host = host
        self.url = ""

    def start(self, timeout_s: float = 30.0) -> str:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive():
                raise GemmaikuError(
                    f"the server could not start on {self.host} (is the port taken? try --port)"
                )
            if time.monotonic() > deadline:
                raise GemmaikuError(f"the server did not start within {timeout_s:.0f} s")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        self.url = f"http://{shown}:{port}"
        return self.url

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@click.command()
@click.argument("models", nargs=-1)
@click.option(
    "--smollm2", "with_smollm2", is_flag=True, help="Also serve SmolLM2-135M-Instruct as 'smollm2'."
)
@click.option(
    "--router",
    "router_targets",
    metavar="HAIKU,PROSE",
    help="Add the virtual model 'gemmaiku-router' choosing between two served models.",
)
@click.option(
    "--guard",
    "guards",
    multiple=True,
    metavar="NAME=N",
    help="Guarded generation for a model: up to N samples until one is a valid 5-7-5 haiku.",
)
@click.option(
    "--threads", type=int, help="llama.cpp threads per model (default: cores / compute slots)."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address our server binds (Open WebUI always binds 127.0.0.1).",
)
@click.option(
    "--port",
    default=11434,
    show_default=True,
    type=int,
    help="Port of our server (0: any free port).",
)
@click.option("--webui-port", default=8080, show_default=True, type=int, help="Port of Open WebUI.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Open WebUI's DATA_DIR (users, chats, settings). Default: $GEMMAIKU_HOME/webui.",
)
@click.option(
    "--webui-bin",
    help="The open-webui executable (default: .venv-webui/bin/open-webui, then PATH).",
)
def webui(
    models: tuple[str, ...],
    with_smollm2: bool,
    router_targets: str | None,
    guards: tuple[str, ...],
    threads: int | None,
    host: str,
    port: int,
    webui_port: int,
    data_dir: Path | None,
    webui_bin: str | None,
) -> None:
    """Serve MODELS and open Open WebUI in front of them, offline, with one command.

    Open WebUI is installed apart from gemmaiku (`make webui-venv` makes .venv-webui). The first
    account created in the browser becomes its admin; pick `gemmaiku-router` in the model menu.

    \b
    Examples:
      gemmaiku webui gemmaiku=artifacts/Modelfile --smollm2 --router gemmaiku,smollm2 --guard gemmaiku=4
      gemmaiku webui model.gguf --webui-port 3000 --data-dir ~/webui-data
    """
    import logging

    from gemmaiku.paths import cache_dir
    from gemmaiku.serve.app import ServeSettings, create_app
    from gemmaiku.serve.cli import add_guards_and_router, build_registry, configure_parallel
    from gemmaiku.serve.webui import find_webui_bin, start_webui

    binary = find_webui_bin(webui_bin)  # before loading any model: fail fast with the fix
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    registry = build_registry(models, (), threads, with_smollm2=with_smollm2)
    add_guards_and_router(registry, guards, router_targets)
    settings = ServeSettings(host=host, port=port, models_dirs=list(registry.allowed_dirs))
    configure_parallel(registry, (), settings.limits)  # serve's default: Open WebUI sends 4 requests a turn
    data_dir = (data_dir or cache_dir() / "webui").expanduser()
    server = ServerThread(create_app(registry, settings), host=host, port=port, limits=settings.limits)
    server_url = server.start()
    click.echo(
        f"gemmaiku: serving {', '.join(registry.names()) or 'no models'} on {server_url}", err=True
    )
    log_path = data_dir / "open-webui.log"
    click.echo(f"gemmaiku: starting Open WebUI (log: {log_path}) ...", err=True)
    try:
        ui = start_webui(
            server_url, port=webui_port, data_dir=data_dir, webui_bin=str(binary), log_path=log_path
        )
    except BaseException:
        server.stop()
        raise
    click.echo(
        f"gemmaiku: Open WebUI on {ui.url}  (our server: {server_url}; Ctrl-C stops both)", err=True
    )
    try:
        while ui.process.poll() is None and server.alive:
            time.sleep(0.5)
        if ui.process.poll() is not None:
            click.echo(
                f"gemmaiku: Open WebUI exited with status {ui.process.returncode} (see {log_path})",
                err=True,
            )
    except KeyboardInterrupt:
        click.echo("gemmaiku: stopping Open WebUI and the server", err=True)
    finally:
        ui.stop()
        server.stop()
