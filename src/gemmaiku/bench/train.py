"""Benchmark of the training step: logits only where loss is taken vs a plain full-logits loop.

    python -m gemmaiku.bench.train [--base DIR] [--steps 10] [--warmup 2] [--batch-size 8]

Both variants train the same LoRA (r=8, alpha 16, all seven projections, AdamW, float32) on the
same batches of the corpus (data/train.jsonl, else data/sources/*.jsonl), bucketed by length as
`gemmaiku train` does. Each variant runs in its own subprocess so its peak RSS is its own. The
plain loop is what a generic trainer does: ``model(...).logits`` at every position (262,144 per
token), then the masked cross-entropy. Prints tokens/s (input tokens, padding excluded), s/step,
the ratio, and peak RSS; ``--json`` for a machine-readable line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

VARIANTS = {
    "selected": "gemmaiku.train.loss:selected_loss_sum",
    "full": "gemmaiku.train.loss:full_logits_loss_sum",
}


def _corpus_rows(data: Path) -> list[list[dict]]:
    files = (
        [data / "train.jsonl"]
        if (data / "train.jsonl").is_file()
        else sorted((data / "sources").glob("*.jsonl"))
    )
    return [
        json.loads(line)["messages"]
        for f in files
        for line in f.read_text().splitlines()
        if line.strip()
    ]


def run_variant(
    variant: str,
    base: Path,
    data: Path,
    steps: int,
    warmup: int,
    batch_size: int,
    max_length: int,
    threads: int = 0,
) -> dict:
    """Time ``steps`` optimizer steps (after ``warmup``) with one loss function, in this process."""
    import importlib

    import torch

    from gemmaiku.train.config import TrainConfig
    from gemmaiku.train.dataset import collate, encode, epoch_batches
    from gemmaiku.train.loop import load_model, load_tokenizer, wrap_lora

    if threads:
        torch.set_num_threads(threads)
    module, name = VARIANTS[variant].split(":")
    loss_fn = getattr(importlib.import_module(module), name)
    torch.manual_seed(0)
    tokenizer = load_tokenizer(base)
    examples = [e for e in (encode(m, tokenizer, max_length) for m in _corpus_rows(data)) if e]
    batches = epoch_batches(examples, batch_size, seed=0, epoch=0)[: warmup + steps]
    config = TrainConfig(data=str(data), base=str(base), out="", rank=8, alpha=16, dropout=0.0)
    model = wrap_lora(load_model(base, "cpu"), config)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    tokens, seconds = 0, 0.0
    for index, batch in enumerate(batches):
        chosen = [examples[i] for i in batch]
        ids, mask, labels = collate(chosen, tokenizer.pad_token_id)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss_sum, n = loss_fn(model, ids, mask, labels)
        (loss_sum / n).backward()
        optimizer.step()
        if index >= warmup:
            seconds += time.perf_counter() - start
            tokens += int(mask.sum())
    return {
        "variant": variant,
        "steps": steps,
        "batch_size": batch_size,
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        "s_per_step": round(seconds / steps, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "torch_threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base", type=Path, default=None, help="HF base folder [the cached bundled 270M]"
    )
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="torch threads [torch's default]")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # child process
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.base is None:
        from gemmaiku.base import ensure_base

        args.base = ensure_base(progress=False)
    settings = (
        args.base,
        args.data,
        args.steps,
        args.warmup,
        args.batch_size,
        args.max_length,
        args.threads,
    )
    if args.variant:
        print(json.dumps(run_variant(args.variant, *settings)))
        return
    results = {}
    for variant in VARIANTS:  # one after the other, never at once: they share the cores
        command = [sys.executable, "-m", "gemmaiku.bench.train", "--variant", variant, "--base", str(args.base),
                   "--data", str(args.data), "--steps", str(args.steps), "--warmup", str(args.warmup),
                   "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
                   "--threads", str(args.threads)]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        results[variant] = json.loads(out.strip().splitlines()[-1])
    ratio = results["selected"]["tokens_per_s"] / results["full"]["tokens_per_s"]
    if args.json:
        print(json.dumps({"results": results, "speedup": round(ratio, 3)}))
        return
    for r in results.values():
        print(
            f"{r['variant']:>8}: {r['tokens_per_s']:7.1f} tok/s  {r['s_per_step']:.3f} s/step  peak RSS {r['peak_rss_mb']} MB  ({r['steps']} steps x {r['batch_size']}, {r['tokens']} tokens)"
        )
    print(f"speed-up (selected / full): {ratio:.2f}x")


if __name__ == "__main__":
    main()
