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
    help="Base model folder (Hugging Face safetensors, e.g. from `gemmaiku base`).",
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
    float32 (W += scale * B @ A), and writes a Hugging Face folder with the config and tokenizer.

    \b
    Examples:
      gemmaiku fuse --base ~/.cache/gemmaiku/base --adapter adapters/gemmaiku --out fused
      gemmaiku fuse --adapter adapters/gemmaiku --out adapter-mlx --convert-to mlx
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
        if base_dir is None:
            raise GemmaikuError("--base is required to fuse (give the base model folder)")
        out = fuse_adapter(
            base_dir, adapter_dir, out_dir, dtype=dtype, force=force, progress=not as_json
        )
        adapter = read_adapter(adapter_dir)
        summary = {
            "action": "fuse",
            "format": adapter.format,
            "modules": len(adapter.modules),
            "out": str(out),
        }
        message = f"fused {len(adapter.modules)} {adapter.format} LoRA modules into {out}"
    summary["seconds"] = round(time.perf_counter() - start, 2)
    click.echo(json.dumps(summary) if as_json else f"{message} ({summary['seconds']} s)")
