"""Benchmark of the training step: trainer variants against a plain full-logits peft loop.

    python -m gemmaiku.bench.train [--threads 1] [--steps 6] [--warmup 1] [--rounds 1]
                                   [--variants plain,selected,fused] [--json]

Every variant trains the same LoRA (r=8, alpha 16, all seven projections, no dropout, AdamW at
a constant 1e-4, float32) on the same batches: the first ``warmup + steps`` micro-batches of 8
conversations of the shipped data/train.jsonl in the trainer's length-bucketed order (seed 0),
through the trainer's own step (`gemmaiku.train.loop`), each variant changing only its settings
(the ``VARIANTS`` table). ``plain`` is what a generic trainer does: ``model(...).logits`` at every
position, then the masked cross-entropy. Each variant runs in its own subprocess (its peak RSS is
its own), one after the other, never at once; with ``--rounds N`` the whole list runs N times,
interleaved, so that a change in the machine's load hits every variant alike, and the table
gives each variant's median.

Reported per variant: trained target tokens per second (the figure that matters: loss is taken
on reply tokens only), seconds per step, peak RSS, the loss of the first step (same weights for
every variant: exact variants agree to ~1e-6) and of the last one, and the share of target tokens
a context cut keeps. The warm-up steps (compilation included) are not timed; their time is
reported apart. ``--clock cpu`` times with the process's CPU time instead of the wall clock: on a
machine shared with other work, one thread's CPU time is what the step costs, whatever share of
the core the scheduler gave it (with more threads, use the wall clock on an idle machine).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

# The LoRA every variant trains unless it says otherwise, and its optimisation.
COMMON = dict(
    rank=8,
    alpha=16.0,
    dropout=0.0,
    lr=1e-4,
    schedule="constant",
    warmup_steps=0,
    max_length=256,
    loss="selected",
)
# name -> (what it measures, settings on top of COMMON). Order is the table's order.
VARIANTS: dict[str, tuple[str, dict]] = {
    "plain": ("generic peft loop: logits at every position", dict(loss="full")),
    "selected": ("logits at target positions (the trainer's default)", {}),
    "fused": ("selected + one-pass head cross-entropy (--loss fused)", dict(loss="fused")),
    "pack": ("fused + packing into rows of 256 (--pack 256)", dict(loss="fused", pack=256)),
    "compile": (
        "fused + torch.compile of the blocks (--compile)",
        dict(loss="fused", compile=True),
    ),
    "len128": ("fused + --max-length 128", dict(loss="fused", max_length=128)),
    "ctx64": ("fused + --max-context 64", dict(loss="fused", max_context=64)),
    "bf16": (
        "fused + bfloat16 matmuls (--matmul-precision medium)",
        dict(loss="fused", matmul_precision="medium"),
    ),
    "compile-bf16": (
        "compile + bfloat16 matmuls",
        dict(loss="fused", compile=True, matmul_precision="medium"),
    ),
    "compile-bf16-ctx64": (
        "compile + bfloat16 matmuls + --max-context 64",
        dict(loss="fused", compile=True, matmul_precision="medium", max_context=64),
    ),
    "r16": ("fused, rank 16 (alpha 32)", dict(loss="fused", rank=16, alpha=32.0)),
    "attn": (
        "fused, LoRA on q/k/v/o only",
        dict(loss="fused", target_modules=("q_proj", "k_proj", "v_proj", "o_proj")),
    ),
    "mlp": (
        "fused, LoRA on gate/up/down only",
        dict(loss="fused", target_modules=("gate_proj", "up_proj", "down_proj")),
    ),
    "dropout": (
        "fused, LoRA dropout 0.05 (the trainer's default)",
        dict(loss="fused", dropout=0.05),
    ),
    "full-ft": (
        "fused, full fine-tuning of the 18 blocks (--train-mode full)",
        dict(loss="fused", train_mode="full"),
    ),
    "full-ft-fused-adamw": (
        "full-ft + --fused-adamw",
        dict(loss="fused", train_mode="full", fused_adamw=True),
    ),
}
DEFAULT_VARIANTS = ("plain", "selected", "fused", "compile", "bf16", "compile-bf16")
UNCUT = 1 << 20  # a max_length nothing reaches: the conversation as it is


def _conversations(data: Path) -> list[list[dict]]:
    lines = (data / "train.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["messages"] for line in lines if line.strip()]


def fixed_batches(conversations, tokenizer, batch_size: int, count: int) -> list[list[int]]:
    """The first ``count`` micro-batches of the trainer's epoch-0 order (seed 0), by conversation."""
    from gemmaiku.train.dataset import encode, epoch_batches

    examples = [encode(m, tokenizer, COMMON["max_length"]) for m in conversations]
    kept = [i for i, e in enumerate(examples) if e is not None]
    order = epoch_batches([examples[i] for i in kept], batch_size, seed=0, epoch=0)
    if len(order) < count:
        raise SystemExit(f"the data has {len(order)} batches of {batch_size}; ask for fewer steps")
    return [[kept[i] for i in batch] for batch in order[:count]]


def run_variant(name: str, base: Path, data: Path, steps: int, warmup: int, batch_size: int,
                threads: int, interop_threads: int) -> dict:  # fmt: skip
    """Train ``warmup + steps`` steps with one variant's settings, in this process; time ``steps``."""
    import torch

    if interop_threads:
        torch.set_num_interop_threads(interop_threads)
    from gemmaiku.train.config import TrainConfig
    from gemmaiku.train.dataset import encode
    from gemmaiku.train.loop import _Run, build_model, configure_torch, load_tokenizer

    settings = {**COMMON, **VARIANTS[name][1]}
    config = TrainConfig(data=str(data), base=str(base), out="", batch_size=batch_size,
                         threads=threads or None, **settings)  # fmt: skip
    configure_torch(config)
    tokenizer = load_tokenizer(base)
    conversations = _conversations(data)
    batches = fixed_batches(conversations, tokenizer, batch_size, warmup + steps)
    chosen = sorted({i for batch in batches for i in batch})
    examples = {i: encode(conversations[i], tokenizer, config.max_length, config.max_context)
                for i in chosen}  # fmt: skip
    uncut = sum(encode(conversations[i], tokenizer, UNCUT).targets for i in chosen)
    kept = sum(e.targets for e in examples.values() if e is not None)
    train_set = [examples[i] for i in chosen if examples[i] is not None]
    position = {i: n for n, i in enumerate(i for i in chosen if examples[i] is not None)}

    torch.manual_seed(0)
    model = build_model(config, "cpu")
    run = _Run(config, model, train_set, [], tokenizer.pad_token_id, "cpu")
    timed = dict(seconds=0.0, cpu_seconds=0.0, targets=0, tokens=0, warmup_seconds=0.0)
    losses = []
    for index, batch in enumerate(batches):
        group = [[position[i] for i in batch if i in position]]
        targets = sum(train_set[j].targets for j in group[0])
        start, cpu_start = time.perf_counter(), time.process_time()
        loss, tokens = run.step(group)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        losses.append(loss)
        if index < warmup:
            timed["warmup_seconds"] += seconds
            continue
        timed["seconds"] += seconds
        timed["cpu_seconds"] += cpu_seconds
        timed["targets"] += targets
        timed["tokens"] += tokens
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "variant": name,
        "steps": steps,
        "batch_size": batch_size,
        "target_tokens": timed["targets"],
        "input_tokens": timed["tokens"],
        "seconds": round(timed["seconds"], 3),
        "cpu_seconds": round(timed["cpu_seconds"], 3),
        "warmup_seconds": round(timed["warmup_seconds"], 2),
        "target_tokens_per_s": round(timed["targets"] / timed["seconds"], 2),
        "target_tokens_per_cpu_s": round(timed["targets"] / timed["cpu_seconds"], 2),
        "s_per_step": round(timed["seconds"] / steps, 3),
        "cpu_s_per_step": round(timed["cpu_seconds"] / steps, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "losses": [round(v, 6) for v in losses],
        "final_loss": round(losses[-1], 6),
        "targets_kept": round(kept / uncut, 4),
        "trained_parameters": trained,
        "torch_threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
    }


def _child(name: str, args) -> dict:
    command = [sys.executable, "-m", "gemmaiku.bench.train", "--variant", name,
               "--base", str(args.base), "--data", str(args.data), "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--batch-size", str(args.batch_size),
               "--threads", str(args.threads), "--interop-threads", str(args.interop_threads)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"variant {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


CLOCKS = {  # --clock -> (tokens per second key, seconds per step key)
    "wall": ("target_tokens_per_s", "s_per_step"),
    "cpu": ("target_tokens_per_cpu_s", "cpu_s_per_step"),
}


def summarise(rounds: list[dict[str, dict]], clock: str = "wall") -> list[dict]:
    """One row per variant: medians over rounds; speed-up against plain within each round."""
    speed, per_step = CLOCKS[clock]
    rows = []
    for name in rounds[0]:
        runs = [r[name] for r in rounds]
        row = {k: v for k, v in runs[-1].items() if k != "losses"}
        for key in (*CLOCKS["wall"], *CLOCKS["cpu"], "warmup_seconds", "peak_rss_mb"):
            row[key] = round(statistics.median(r[key] for r in runs), 3)
        row["clock"], row["speed"], row["per_step"] = clock, row[speed], row[per_step]
        if "plain" in rounds[0]:
            ratios = [r[name][speed] / r["plain"][speed] for r in rounds]
            row["speedup_vs_plain"] = round(statistics.median(ratios), 3)
            row["speedups"] = [round(x, 3) for x in ratios]
            plain = rounds[-1]["plain"]["losses"]
            row["first_loss_delta_vs_plain"] = round(runs[-1]["losses"][0] - plain[0], 7)
            row["loss_delta_vs_plain"] = round(runs[-1]["final_loss"] - plain[-1], 6)
        row["description"] = VARIANTS[name][0]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="example: python -m gemmaiku.bench.train --threads 1 --steps 6 --rounds 2",
    )
    parser.add_argument(
        "--base", type=Path, default=None, help="HF base folder [the cached bundled 270M]"
    )
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--steps", type=int, default=6, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (compiles)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1, help="passes over the variant list")
    parser.add_argument("--threads", type=int, default=0, help="torch threads [torch's default]")
    parser.add_argument("--interop-threads", type=int, default=0, help="[torch's default]")
    parser.add_argument(
        "--clock", choices=CLOCKS, default="wall", help="what times a step (cpu: see above)"
    )
    parser.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated, from: {', '.join(VARIANTS)} ('all' for every one)",
    )
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # child process
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.base is None:
        from gemmaiku.base import ensure_base

        args.base = ensure_base(progress=False)
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.base, args.data, args.steps, args.warmup,
                                     args.batch_size, args.threads, args.interop_threads)))  # fmt: skip
        return
    names = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant {unknown[0]} (choose from {', '.join(VARIANTS)})")
    rounds = []
    for number in range(args.rounds):  # one subprocess at a time: they would share the cores
        results = {}
        for name in names:
            results[name] = _child(name, args)
            print(f"round {number + 1}: {_line(results[name])}", file=sys.stderr, flush=True)
        rounds.append(results)
    rows = summarise(rounds, args.clock)
    if args.json:
        print(json.dumps({"rows": rows, "rounds": rounds}))
        return
    print(_table(rows))


def _line(r: dict) -> str:
    return (
        f"{r['variant']:>20}: {r['target_tokens_per_s']:7.1f} target tok/s "
        f"({r['target_tokens_per_cpu_s']:.1f} per CPU s)  {r['s_per_step']:.3f} s/step  "
        f"peak RSS {r['peak_rss_mb']} MB  loss {r['final_loss']:.5f}"
    )


def _table(rows: list[dict]) -> str:
    unit = "CPU s" if rows[0]["clock"] == "cpu" else "s"
    head = (
        f"| variant | target tok/{unit} | x plain | {unit}/step | warm-up s | peak RSS MB "
        "| loss after N | Δ loss vs plain (step 1 / after N) | targets kept |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['speed']:.1f} | {r.get('speedup_vs_plain', float('nan')):.2f} "
            f"| {r['per_step']:.2f} | {r['warmup_seconds']:.0f} | {r['peak_rss_mb']:.0f} "
            f"| {r['final_loss']:.5f} | {r.get('first_loss_delta_vs_plain', float('nan')):+.0e} / "
            f"{r.get('loss_delta_vs_plain', float('nan')):+.0e} "
            f"| {r['targets_kept']:.1%} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
