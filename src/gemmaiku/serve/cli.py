"""`gemmaiku serve`: serve GGUF models and Modelfiles over the Ollama and OpenAI APIs."""

from __future__ import annotations

from pathlib import Path

import click

from gemmaiku.errors import GemmaikuError


def parse_model_arg(arg: str) -> tuple[str, Path]:
    """`NAME=PATH` or `PATH` (named after the file, or the Modelfile's folder)."""
    name, sep, path_text = arg.partition("=")
    path = Path(path_text if sep else arg).expanduser()
    if not sep:
        name = path.parent.name if path.name == "Modelfile" else path.stem
    if not path.exists():
        raise GemmaikuError(f"no such model: {path} (give a .gguf file or a Modelfile, as NAME=PATH or PATH)")
    return name.lower(), path


def build_registry(models: tuple[str, ...], models_dirs: tuple[Path, ...], threads: int | None):
    from gemmaiku.serve.registry import Registry, served_from_gguf, served_from_modelfile

    parsed = [parse_model_arg(arg) for arg in models]
    allowed = list(models_dirs) or sorted({path.resolve().parent for _, path in parsed})
    registry = Registry(allowed)
    for name, path in parsed:
        if path.suffix == ".gguf":
            registry.add(served_from_gguf(name, path, n_threads=threads))
        else:
            registry.add(served_from_modelfile(name, path, n_threads=threads))
    return registry


@click.command()
@click.argument("models", nargs=-1)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=11434, show_default=True, type=int, help="Port (Ollama's by default).")
@click.option("--api-key", envvar="GEMMAIKU_API_KEY", help="Require 'Authorization: Bearer KEY'.")
@click.option("--models-dir", "models_dirs", multiple=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder clients may create models from (/api/create FROM). Default: the given models' folders.")
@click.option("--threads", type=int, help="llama.cpp threads per model (default: cores / compute slots).")
@click.option("--max-body", default=8 * 1024 * 1024, show_default=True, help="Largest request body in bytes.")
def serve(models: tuple[str, ...], host: str, port: int, api_key: str | None,
          models_dirs: tuple[Path, ...], threads: int | None, max_body: int) -> None:
    """Serve MODELS (GGUF files or Modelfiles) with Ollama's and OpenAI's APIs.

    Any Ollama client (the `ollama` CLI and Python library, Open WebUI) and any OpenAI client
    (base URL http://HOST:PORT/v1) works unchanged.

    \b
    Example:
      gemmaiku serve gemmaiku=artifacts/Modelfile prose=smollm2.gguf --port 11434
      curl http://127.0.0.1:11434/api/chat -d '{"model": "gemmaiku", "messages": [{"role": "user", "content": "hi"}]}'
    """
    import uvicorn

    from gemmaiku.serve.app import ServeSettings, create_app

    registry = build_registry(models, models_dirs, threads)
    settings = ServeSettings(host=host, port=port, api_key=api_key, max_body_bytes=max_body,
                             models_dirs=list(registry.allowed_dirs))
    click.echo(f"gemmaiku: serving {', '.join(registry.names()) or 'no models yet'} on http://{host}:{port}", err=True)
    uvicorn.run(create_app(registry, settings), host=host, port=port, log_level="warning")
