"""``gemmaiku export`` and ``gemmaiku inspect``."""

from __future__ import annotations

import json

import click

from gemmaiku.export.outtypes import OUTTYPES


@click.command("export")
@click.argument("model_dir", type=click.Path())
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="The .gguf file to write.")
@click.option("--outtype", type=click.Choice(list(OUTTYPES), case_sensitive=False), default="f16",
              show_default=True, help="Tensor type of the 2-D weights (norms and 1-D tensors stay F32). "
              + "; ".join(f"{t.name}: {t.note}" for t in OUTTYPES.values() if t.note) + ".")
@click.option("--name", default=None, help="general.name in the GGUF (default: the folder's name).")
@click.option("--threads", type=int, default=None, help="Threads for llama.cpp's K-quant quantizer.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary of the written file.")
def export(model_dir: str, output: str, outtype: str, name: str | None, threads: int | None, as_json: bool) -> None:
    """Write a Gemma 3 Hugging Face folder (base or fused) as a GGUF for llama.cpp/Ollama.

    \b
    Float types and q8_0 are written directly with gguf-py, K-quants by llama.cpp's quantizer
    (llama-cpp-python) from a temporary F16 file.

    \b
    Examples:
      gemmaiku export "$(gemmaiku base)" -o gemma3-270m-f16.gguf
      gemmaiku export artifacts/fused -o artifacts/gemmaiku-270m-q8_0.gguf --outtype q8_0
    """
    from gemmaiku.export import export_gguf, inspect_gguf

    path = export_gguf(model_dir, output, outtype.lower(), name=name, threads=threads, progress=not as_json)
    if as_json:
        info = inspect_gguf(path)
        summary = {k: info[k] for k in ("path", "file_bytes", "architecture", "tensor_count", "tensor_types", "parameters")}
        click.echo(json.dumps(summary))
    else:
        click.echo(str(path))


@click.command("inspect")
@click.argument("gguf_file", type=click.Path())
@click.option("--tensors", "show_tensors", is_flag=True, help="List every tensor (name, type, shape).")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
def inspect(gguf_file: str, show_tensors: bool, as_json: bool) -> None:
    """Show a GGUF file's metadata and a summary of its tensors.

    \b
    Examples:
      gemmaiku inspect artifacts/gemmaiku-270m-f16.gguf
      gemmaiku inspect model.gguf --tensors
      gemmaiku inspect model.gguf --json | jq '.metadata["gemma3.context_length"]'
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from gemmaiku.export.inspect import human_count, human_size, inspect_gguf

    info = inspect_gguf(gguf_file)
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False))
        return
    console = Console(highlight=False)
    console.print(
        f"[bold]{info['path']}[/]  GGUF v{info['gguf_version']}, {info['architecture']}, "
        f"{human_size(info['file_bytes'])}, {human_count(info['parameters'])} parameters"
    )
    meta = Table(box=None, show_header=False)
    meta.add_column("key", no_wrap=True)
    meta.add_column("value")
    for key, value in info["metadata"].items():
        if isinstance(value, dict) and "array_length" in value:
            value = f"[{value['array_length']} items] {value['first']}..."
        elif isinstance(value, str) and len(value) > 100:
            value = value[:100].replace("\n", "\\n") + "..."
        elif isinstance(value, float):
            value = f"{value:.7g}"
        meta.add_row(key, escape(str(value)))
    console.print(meta)
    types = ", ".join(f"{kind} x{count}" for kind, count in info["tensor_types"].items())
    console.print(f"{info['tensor_count']} tensors ({types}), {human_size(info['tensor_bytes'])} of data")
    if show_tensors:
        table = Table("name", "type", "shape", "bytes", box=None)
        for tensor in info["tensors"]:
            table.add_row(tensor["name"], tensor["type"], " x ".join(map(str, tensor["shape"])), str(tensor["n_bytes"]))
        console.print(table)
