"""`gemmaiku fuse`: fold a LoRA adapter into the base model, or convert it between formats."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from gemmaiku.errors import GemmaikuError

FOLDER = click.Path(path_type=Path, file_okay=False)


@click.command()
@click.option(
    "--base",
    "base_dir",
    type=FOLDER,
    help="Base model folder (Hugging Face safetensors) [default: the one `gemmaiku base` made].",
)
@click.option(
    "--adapter",
    "adapter_dir",
    type=FOLDER,
    required=True,
    help="LoRA adapter folder: peft or mlx_lm.",
)
@click.option(
    "--out",
    "out_dir",
    type=FOLDER,
    required=True,
    help="Folder to write (the fused model, or the converted adapter).",
)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float16", "bfloat16"]),
    help="Dtype of the written weights [default: the base's].",
)
@click.option(
    "--convert-to",
    type=click.Choice(["peft", "mlx"]),
    help="Convert the adapter to this format instead of fusing.",
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def fuse(base_dir, adapter_dir, out_dir, dtype, convert_to, force, as_json) -> None:
    """Fuse a LoRA adapter (peft or mlx_lm) into its base model.

    Checks that every adapter tensor fits a base weight before writing anything, merges in
    float32 (W += scale * B @ A; DoRA rescales rows to its magnitudes), and writes a Hugging Face
    folder with the base's config and tokenizer. --convert-to rewrites the adapter in the other
    format instead; both fuse to identical weights.

    \b
    Examples:
      gemmaiku base && gemmaiku fuse --adapter my-adapter --out fused
      gemmaiku fuse --base ~/.cache/gemmaiku/base/gemma3-270m --adapter my-adapter --out fused --json
      gemmaiku fuse --adapter my-adapter --out my-adapter-mlx --convert-to mlx
    """
    from gemmaiku.fuse import convert_adapter, fuse_adapter, read_adapter

    start = time.perf_counter()
    if convert_to:
        if dtype:
            raise GemmaikuError("--dtype applies to fusing, not to --convert-to (drop one of them)")
        source = read_adapter(adapter_dir).format
        out = convert_adapter(adapter_dir, out_dir, convert_to, base_dir=base_dir, force=force)
        summary = {"action": "convert", "from": source, "to": convert_to, "out": str(out)}
        message = f"converted the {source} adapter to {convert_to}: {out}"
    else:
        base_dir = base_dir or default_base()
        out = fuse_adapter(
            base_dir, adapter_dir, out_dir, dtype=dtype, force=force, progress=not as_json
        )
        adapter = read_adapter(adapter_dir)
        kind = f"{adapter.format} {'DoRA' if adapter.dora else 'LoRA'}"
        summary = {
            "action": "fuse",
            "format": adapter.format,
            "dora": adapter.dora,
            "modules": len(adapter.modules),
            "base": str(base_dir),
            "out": str(out),
        }
        message = f"fused {len(adapter.modules)} {kind} modules into {out}"
    summary["seconds"] = round(time.perf_counter() - start, 2)
    click.echo(json.dumps(summary) if as_json else f"{message} ({summary['seconds']} s)")


def default_base() -> Path:
    """The base folder `gemmaiku base` writes by default, if it is there."""
    from gemmaiku.base import default_base_dir

    folder = default_base_dir()
    if not (folder / "config.json").is_file():
        raise GemmaikuError(
            f"no base model at {folder} (run `gemmaiku base` first, or give --base)"
        )
    return folder
