"""`gemmaiku train`: LoRA (or full-block) SFT of a Gemma 3 base on the corpus' train split."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gemmaiku.train.config import (
    ALL_PROJECTIONS,
    MATMUL_PRECISIONS,
    SCHEDULES,
    TRAIN_MODES,
    TrainConfig,
)

LOSS_CHOICES = ("full", "selected", "fused")  # gemmaiku.train.loss.LOSSES, without importing torch

_DEFAULTS = TrainConfig(data="", base="", out="")


@click.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    default=Path("data"),
    show_default=True,
    help="Folder with train.jsonl and valid.jsonl.",
)
@click.option(
    "--base",
    type=click.Path(path_type=Path),
    default=None,
    help="Hugging Face folder of the base model [the cached bundled 270M, built if missing].",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for the adapter, checkpoint and metrics.",
)
@click.option("--rank", "-r", default=_DEFAULTS.rank, show_default=True, help="LoRA rank.")
@click.option(
    "--alpha",
    default=_DEFAULTS.alpha,
    show_default=True,
    help="LoRA alpha (scaling = alpha / rank).",
)
@click.option("--dropout", default=_DEFAULTS.dropout, show_default=True, help="LoRA dropout.")
@click.option(
    "--target-modules",
    default=",".join(ALL_PROJECTIONS),
    show_default=True,
    help="Comma-separated projections to adapt.",
)
@click.option("--lr", default=_DEFAULTS.lr, show_default=True, help="Peak learning rate (AdamW).")
@click.option(
    "--schedule", type=click.Choice(SCHEDULES), default=_DEFAULTS.schedule, show_default=True
)
@click.option("--warmup-steps", default=_DEFAULTS.warmup_steps, show_default=True)
@click.option("--weight-decay", default=_DEFAULTS.weight_decay, show_default=True)
@click.option(
    "--epochs",
    default=_DEFAULTS.epochs,
    show_default=True,
    help="Passes over the train split (fractions allowed).",
)
@click.option("--max-steps", type=int, default=None, help="Optimizer steps; overrides --epochs.")
@click.option("--batch-size", default=_DEFAULTS.batch_size, show_default=True)
@click.option(
    "--grad-accum",
    default=_DEFAULTS.grad_accum,
    show_default=True,
    help="Micro-batches per optimizer step.",
)
@click.option(
    "--max-length",
    default=_DEFAULTS.max_length,
    show_default=True,
    help="Tokens per conversation (longer: oldest context cut).",
)
@click.option("--seed", default=_DEFAULTS.seed, show_default=True)
@click.option(
    "--eval-interval",
    default=_DEFAULTS.eval_interval,
    show_default=True,
    help="Steps between validation losses (0: only at the end).",
)
@click.option(
    "--save-interval",
    default=_DEFAULTS.save_interval,
    show_default=True,
    help="Steps between checkpoints (0: only on Ctrl-C).",
)
@click.option(
    "--log-interval",
    default=_DEFAULTS.log_interval,
    show_default=True,
    help="Steps between metrics lines.",
)
@click.option(
    "--val-batches", type=int, default=None, help="Validation batches per evaluation [all]."
)
@click.option(
    "--init-adapter",
    default=None,
    help="Start from this adapter's LoRA weights (same rank and target modules): continue training.",
)
@click.option(
    "--threads",
    type=int,
    default=None,
    help="CPU threads for torch [torch's default]; 1 is faster when other work shares the cores.",
)
@click.option(
    "--train-mode",
    type=click.Choice(TRAIN_MODES),
    default=_DEFAULTS.train_mode,
    show_default=True,
    help="lora: adapters on --target-modules; full: every weight of the decoder blocks "
    "(embeddings and final norm frozen), saved as model_blocks.safetensors.",
)
@click.option(
    "--init-weights",
    default=None,
    help="Full mode: start from this full run's block weights (the twin of --init-adapter).",
)
@click.option(
    "--loss",
    type=click.Choice(LOSS_CHOICES),
    default=_DEFAULTS.loss,
    show_default=True,
    help="Head: logits at target positions only (selected), the same with its gradient made in "
    "one pass (fused, exact), or at every position (full, the reference).",
)
@click.option(
    "--pack",
    type=click.IntRange(1),
    default=None,
    help="Pack each micro-batch's conversations into rows of at most N tokens (exact: "
    "block-diagonal attention, positions restart per conversation).",
)
@click.option(
    "--max-context",
    type=click.IntRange(2),
    default=None,
    help="Keep at most N tokens before the final reply (<bos> and the end of the prompt).",
)
@click.option(
    "--compile", "compile_", is_flag=True, help="torch.compile the decoder stack (exact)."
)
@click.option(
    "--pad-multiple",
    type=click.IntRange(1),
    default=_DEFAULTS.pad_multiple,
    show_default=True,
    help="Round row widths up to a multiple of N with padding (e.g. 8 on a GPU; --compile "
    "needs none: it compiles for dynamic shapes).",
)
@click.option(
    "--matmul-precision",
    type=click.Choice(MATMUL_PRECISIONS),
    default=_DEFAULTS.matmul_precision,
    show_default=True,
    help="torch float32 matmul precision; medium runs them on bfloat16 units where the CPU "
    "has them (faster, not exact).",
)
@click.option("--fused-adamw", is_flag=True, help="torch's fused AdamW kernel.")
@click.option(
    "--stop-after",
    type=click.IntRange(1),
    default=None,
    help="End this stage after step N with a checkpoint; --resume continues the same run.",
)
@click.option("--resume", is_flag=True, help="Continue the run checkpointed in --out.")
@click.option("--keep-checkpoint", is_flag=True, help="Keep OUT/checkpoint after finishing.")
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as JSON.")
def train(
    data_dir: Path,
    base: Path | None,
    out: Path,
    target_modules: str,
    compile_: bool,
    resume: bool,
    keep_checkpoint: bool,
    as_json: bool,
    **settings,
) -> None:
    """Train a LoRA adapter that makes the base model answer in 5-7-5 haiku.

    Loss is taken on assistant tokens only (every reply of a multi-turn chat, with its
    <end_of_turn>), and logits are computed only at those positions. Ctrl-C finishes the current
    step, saves OUT/checkpoint and exits 130; --resume continues it. OUT receives a peft adapter
    (adapter_config.json, adapter_model.safetensors), or with --train-mode full the blocks'
    weights (model_blocks.safetensors), plus training_args.json and metrics.jsonl.

    \b
    Example:
      gemmaiku train --data data --out runs/r8 \\
          --rank 8 --alpha 16 --epochs 2 --batch-size 8 --lr 2e-4
    \b
    Faster, exact (docs/train.md has the measurements):
      gemmaiku train --data data --out runs/r8 --loss fused --compile
    """
    from gemmaiku.train.loop import train as run

    if base is None:
        from gemmaiku.base import ensure_base

        base = ensure_base()

    modules = tuple(m.strip() for m in target_modules.split(",") if m.strip())
    config = TrainConfig(
        data=str(data_dir),
        base=str(base),
        out=str(out),
        target_modules=modules,
        compile=compile_,
        **settings,
    )
    result = run(config, resume=resume, keep_checkpoint=keep_checkpoint)
    summary = result["result"]
    if as_json:
        click.echo(json.dumps(result, indent=2))
    elif not summary["finished"]:
        click.echo(
            f"stage ended at step {summary['steps']}: continue with the same command and --resume"
        )
    else:
        click.echo(
            f"{'weights' if config.train_mode == 'full' else 'adapter'} in {out}: {summary['steps']} steps, loss {summary['final_loss']:.4f}, "
            f"val_loss {summary['final_val_loss'] if summary['final_val_loss'] is None else round(summary['final_val_loss'], 4)}, "
            f"{summary['elapsed_s']:.0f} s"
        )
