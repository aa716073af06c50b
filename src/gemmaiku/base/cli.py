"""``gemmaiku base``: build (or reuse) the float32 Gemma 3 base folder."""

from __future__ import annotations

import json

import click


@click.command("base")
@click.option("--from", "source", type=click.Path(), default=None,
              help="A Gemma 3 .gguf file or Hugging Face folder instead of the bundled 270M.")
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="Folder to write (default: in the cache, one per source).")
@click.option("--force", is_flag=True, help="Rebuild even if a complete folder exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def base(source: str | None, output: str | None, force: bool, as_json: bool) -> None:
    """Build the float32 Gemma 3 base model folder and print its path.

    \b
    The bundled Gemma 3 270M GGUF is dequantized once into the cache
    ($GEMMAIKU_HOME/base/gemma3-270m); later calls reuse it.

    \b
    Examples:
      gemmaiku base
      gemmaiku base --from ~/models/gemma-3-270m          # a Hugging Face folder
      gemmaiku base --from gemma-3-270m-it-Q8_0.gguf --json
    """
    from gemmaiku.base import ensure_base, read_manifest

    folder = ensure_base(source, output=output, force=force, progress=not as_json)
    if as_json:
        manifest = read_manifest(folder) or {}
        click.echo(json.dumps({"path": str(folder), "source": manifest.get("source")}))
    else:
        click.echo(str(folder))
