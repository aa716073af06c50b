"""`gemmaiku bench`: benchmarks that write report folders (run them on a quiet machine).

Run as ``python -m gemmaiku.bench.cli``, this module is the CLI's own start-up benchmark
(gemmaiku.bench.startup).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from gemmaiku.errors import GemmaikuError


@click.group()
def bench() -> None:
    """Benchmarks (timings for the docs; run them alone on a quiet machine)."""


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise GemmaikuError(f"bad {what} {text!r} (write positive integers like 1,2,4)")
    return values


@bench.command()
@click.argument("model", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--layers", default="raw,ollama,openai,webui", show_default=True,
              help="Which layers: raw, ollama, openai, webui (the Open WebUI at --webui-url), "
                   "webui-venv, webui-docker (an Open WebUI the benchmark starts: .venv-webui, or the "
                   "image `make images` builds), llama-server (llama.cpp's own server: python -m "
                   "gemmaiku.bench.llama_server build).")
@click.option("--concurrency", default="1,2,4", show_default=True, help="Concurrent clients, comma-separated.")
@click.option("--requests", "-n", type=click.IntRange(1), default=8, show_default=True,
              help="Measured requests per configuration (after one warm-up).")
@click.option("--num-predict", type=click.IntRange(1), default=64, show_default=True, help="Most tokens per reply.")
@click.option("--threads", type=int, default=None, help="llama.cpp threads, the same for every layer (default: all cores).")
@click.option("--num-ctx", type=int, default=2048, show_default=True)
@click.option("--parallel", type=click.IntRange(1), default=4, show_default=True,
              help="Requests every layer decodes at once (serve --parallel, llama-server --parallel).")
@click.option("--system", default="default", show_default=True, help="System prompt: default, none or the text.")
@click.option("--webui-url", help="Open WebUI base URL (e.g. http://127.0.0.1:8080), measured when given.")
@click.option("--webui-model", default="gemmaiku:latest", show_default=True,
              help="Model id in Open WebUI (its Ollama backend's name, with the tag).")
@click.option("--webui-token", envvar="GEMMAIKU_WEBUI_TOKEN", help="Open WebUI bearer token (or use email/password).")
@click.option("--webui-email", envvar="GEMMAIKU_WEBUI_EMAIL", help="Open WebUI account to sign in with.")
@click.option("--webui-password", envvar="GEMMAIKU_WEBUI_PASSWORD", help="Its password.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/throughput"), show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print report.json to stdout too.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def throughput(model: Path, layers: str, concurrency: str, requests: int, num_predict: int, threads: int | None,
               num_ctx: int, parallel: int, system: str, webui_url: str | None, webui_model: str, webui_token: str | None,
               webui_email: str | None, webui_password: str | None, out: Path, as_json: bool, quiet: bool) -> None:
    """Tokens/s, time to first token and latency: raw llama.cpp vs our server vs Open WebUI.

    Each layer runs alone (our server is started and stopped here, in a subprocess). The webui
    layer measures the Open WebUI at --webui-url, in front of a server serving MODEL that you
    started; webui-venv and webui-docker start their own Open WebUI (pip or Docker) and server.
    llama-server is llama.cpp's own server, the anchor our server's goals are set against (build
    it once: taskset -c 1 python -m gemmaiku.bench.llama_server build).

    \b
    Examples:
      gemmaiku bench throughput artifacts/gemmaiku-270m-f16.gguf --threads 2 --out reports/throughput
      gemmaiku bench throughput model.gguf --layers raw,webui --webui-url http://127.0.0.1:8080 \\
        --webui-email admin@example.com --webui-password secret
      gemmaiku bench throughput model.gguf --layers raw,ollama,openai,webui-venv,webui-docker
      gemmaiku bench throughput model.gguf --layers openai,llama-server --concurrency 1,2,4,8 --threads 2
    """
    from gemmaiku.bench.throughput import (
        DEFAULT_PROMPTS,
        LAYERS,
        BenchSettings,
        load_average,
        run_throughput,
        write_throughput,
    )
    from gemmaiku.bench.throughput import (
        webui_token as sign_in,
    )
    from gemmaiku.evaluate.report import file_sha256
    from gemmaiku.evaluate.run import DEFAULT_OPTIONS
    from gemmaiku.evaluate.suite import resolve_system

    chosen = [x.strip() for x in layers.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in LAYERS]
    if unknown or not chosen:
        raise GemmaikuError(f"unknown layers {', '.join(unknown) or '(none)'} (choose from {', '.join(LAYERS)})")
    if "webui" in chosen and not webui_url:
        chosen.remove("webui")
        click.echo("gemmaiku: webui skipped (no --webui-url)", err=True)
    if webui_url and "webui" in chosen and not webui_token:
        if not (webui_email and webui_password):
            raise GemmaikuError("Open WebUI needs --webui-token, or --webui-email and --webui-password")
        webui_token = sign_in(webui_url, webui_email, webui_password)
    levels = _ints(concurrency, "--concurrency")
    load = load_average()
    if load and load[0] > 0.5:
        click.echo(f"gemmaiku: warning: load average {load[0]} before the run; figures will be noisy", err=True)
    system_text = resolve_system(system)
    messages = [([{"role": "system", "content": system_text}] if system_text else []) + [{"role": "user", "content": p}]
                for p in DEFAULT_PROMPTS]
    options = {**DEFAULT_OPTIONS, "temperature": 0.0, "seed": 0, "num_predict": num_predict}  # greedy
    settings = BenchSettings(model=model, threads=threads, num_ctx=num_ctx, webui_url=webui_url,
                             webui_model=webui_model, webui_token=webui_token, parallel=parallel, sampling=options)
    rows, partial = run_throughput(settings, chosen, levels, requests, messages, options, progress=not quiet)
    info = [{"spec": f"gguf:{model}", "kind": "gguf", "path": str(model.resolve()), "size": model.stat().st_size,
             "sha256": file_sha256(model)}]
    if webui_url and "webui" in chosen:
        info.append({"spec": f"openai:{webui_url}/api/{webui_model}", "kind": "openai", "url": webui_url,
                     "model": webui_model})
    record = {"layers": chosen, "concurrency": levels, "requests": requests, "threads": threads, "num_ctx": num_ctx,
              "parallel": parallel,
              "options": options, "prompts": list(DEFAULT_PROMPTS), "system": system_text,
              "load_average_before": load, "services": settings.services}
    payload = write_throughput(out, rows, partial, record, info)
    if as_json:
        click.echo(json.dumps(payload, indent=2))
    for r in payload["rows"]:
        ratio = (r.get("vs_raw") or {}).get("tokens_per_s")
        click.echo(f"{r['layer']:>7} x{r['concurrency']}: {r['tokens_per_s']:6.1f} tok/s"
                   f"{f' ({ratio:.2f}x raw)' if ratio and r['layer'] != 'raw' else ''}, "
                   f"TTFT p50 {1000 * r['ttft_p50_s']:.0f} ms, latency p50/p95 "
                   f"{r['latency_p50_s']:.2f}/{r['latency_p95_s']:.2f} s", err=as_json)
    for g in payload["goals"]:
        click.echo(f"goal {g['layer']}: {g['goal']} {g['ratio']:.2f}x ({g['bound']}): {'met' if g['met'] else 'NOT met'}",
                   err=as_json)
    click.echo(f"report: {out}/report.md{' (partial: interrupted)' if partial else ''}", err=as_json)
    if partial:
        raise SystemExit(130)


if __name__ == "__main__":
    from gemmaiku.bench.startup import main

    main()
