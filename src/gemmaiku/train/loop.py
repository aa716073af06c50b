"""The training run: load, wrap with LoRA (or unfreeze the blocks), step, evaluate, checkpoint, save.

Read top to bottom: ``train()`` sets everything up, ``_Run.step()`` is one optimizer step over
``grad_accum`` micro-batches, ``_Run.evaluate()`` is the validation loss. Ctrl-C (SIGINT) finishes
the step in flight, saves a checkpoint and raises KeyboardInterrupt (the CLI exits 130); resume
with ``--resume``. ``stop_after`` ends a stage the same way without the signal. Output:
``OUT/adapter_config.json`` + ``adapter_model.safetensors`` (LoRA; load with
``PeftModel.from_pretrained``) or ``model_blocks.safetensors`` + ``full_config.json`` (full mode,
see ``gemmaiku.train.full``), ``training_args.json``, ``metrics.jsonl``.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gemmaiku.atomic import atomic_file, write_text_atomic
from gemmaiku.errors import GemmaikuError
from gemmaiku.train import checkpoint
from gemmaiku.train.config import MATMUL_PRECISIONS, SCHEDULES, TRAIN_MODES, TrainConfig
from gemmaiku.train.dataset import Batch, Example, load_examples, make_batch, micro_batches
from gemmaiku.train.loss import LOSSES, causal_lm_parts

METRICS = "metrics.jsonl"
ARGS = "training_args.json"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def lr_lambda(schedule: str, warmup: int, total: int) -> Callable[[int], float]:
    """Multiplier of the peak learning rate at a step: linear warmup, then the schedule's decay."""

    def decay(progress: float) -> float:
        return {
            "cosine": 0.5 * (1.0 + math.cos(math.pi * progress)),
            "linear": 1.0 - progress,
            "constant": 1.0,
        }[schedule]

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return decay(min(1.0, (step - warmup) / max(1, total - warmup)))

    return factor


def total_steps(config: TrainConfig, n_examples: int) -> int:
    if config.max_steps:
        return config.max_steps
    micro_per_epoch = math.ceil(n_examples / config.batch_size)
    return max(1, math.ceil(config.epochs * micro_per_epoch / config.grad_accum))


def load_tokenizer(base: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(base)
    except (OSError, ValueError) as exc:
        raise GemmaikuError(
            f"no tokenizer in {base} ({exc.__class__.__name__}); give --base a folder made by `gemmaiku base`"
        ) from None


def load_model(base: Path, device: str):
    import torch
    from transformers import AutoModelForCausalLM

    if not (base / "config.json").is_file():
        raise GemmaikuError(
            f"{base} is not a Hugging Face model folder (make one with `gemmaiku base`)"
        )
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model.config.use_cache = False
    return model.to(device)


def wrap_lora(model, config: TrainConfig):
    from peft import LoraConfig, get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [t for t in config.target_modules if t not in names]
    if missing:
        raise GemmaikuError(
            f"target modules not in the model: {', '.join(missing)} (choose from q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)"
        )
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def check_settings(config: TrainConfig) -> None:
    """Refuse settings that cannot work, before anything is loaded."""
    choices = {
        "schedule": SCHEDULES,
        "loss": tuple(LOSSES),
        "train_mode": TRAIN_MODES,
        "matmul_precision": MATMUL_PRECISIONS,
    }
    for name, allowed in choices.items():
        if getattr(config, name) not in allowed:
            raise GemmaikuError(
                f"unknown {name.replace('_', ' ')} {getattr(config, name)!r} (one of {', '.join(allowed)})"
            )
    if config.max_context is not None and config.max_context < 2:
        raise GemmaikuError("--max-context must be at least 2 (<bos> and one prompt token)")
    if config.pack is not None and config.pack < 1:
        raise GemmaikuError("--pack takes the tokens per packed row, e.g. 256 (or leave it out)")
    if config.train_mode == "full" and config.init_adapter:
        raise GemmaikuError(
            "--init-adapter warm-starts a LoRA; in --train-mode full use --init-weights RUN"
        )
    if config.train_mode == "lora" and config.init_weights:
        raise GemmaikuError(
            "--init-weights takes a full-mode run; for a LoRA use --init-adapter or --train-mode full"
        )


def configure_torch(config: TrainConfig) -> None:
    import torch

    if config.threads:
        torch.set_num_threads(config.threads)
    torch.set_float32_matmul_precision(config.matmul_precision)


def build_model(config: TrainConfig, device: str, warm_start: bool = True):
    """The base with LoRA adapters, or with its blocks unfrozen; optionally warm-started."""
    model = load_model(Path(config.base), device)
    if config.train_mode == "full":
        from gemmaiku.train.full import freeze_all_but_blocks, load_blocks

        freeze_all_but_blocks(model)
        if config.init_weights and warm_start:
            load_blocks(model, Path(config.init_weights))
        return model
    model = wrap_lora(model, config)
    if config.init_adapter and warm_start:
        load_adapter_weights(model, Path(config.init_adapter))
    return model


def compile_blocks(model) -> None:
    """torch.compile each decoder block in place (regional compilation, dynamic shapes).

    The 18 blocks run the same code, so torch traces one graph per kind of block (sliding-window
    and full attention) and reuses it, instead of one graph of the whole stack: minutes of
    compilation instead of most of an hour on a busy core. Names and state dicts are unchanged.
    """
    for block in causal_lm_parts(model).body.layers:
        block.compile(dynamic=True)


def load_adapter_weights(model, adapter: Path) -> None:
    """Warm start: copy a saved peft adapter's LoRA weights into the freshly wrapped model."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = adapter / "adapter_model.safetensors"
    if not path.is_file():
        raise GemmaikuError(
            f"no adapter_model.safetensors in {adapter} (give a folder made by `gemmaiku train`)"
        )
    weights = load_file(path)
    expected = [k for k in model.state_dict() if "lora_" in k]
    try:
        result = set_peft_model_state_dict(model, weights)
    except RuntimeError:  # shape mismatch
        result = None
    if result is None or result.unexpected_keys or len(weights) != len(expected):
        raise GemmaikuError(
            f"{adapter} does not match this LoRA shape (use the same --rank and --target-modules)"
        )


class _StopFlag:
    """SIGINT sets a flag checked between steps; a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class _Run:
    def __init__(
        self,
        config: TrainConfig,
        model,
        train: list[Example],
        valid: list[Example],
        pad_id: int,
        device: str,
    ):
        import torch

        self.config, self.model, self.train_set, self.valid_set = config, model, train, valid
        self.pad_id, self.device = pad_id, device
        self.total = total_steps(config, len(train))
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            params,
            lr=config.lr,
            weight_decay=config.weight_decay,
            fused=True if config.fused_adamw else None,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(config.schedule, config.warmup_steps, self.total)
        )
        self.progress = checkpoint.Progress()
        self.loss_sum = LOSSES[config.loss]
        if config.compile:
            compile_blocks(model)

    def batch(self, examples: list[Example]) -> Batch:
        config = self.config
        return make_batch(examples, self.pad_id, config.pack, config.pad_multiple).to(self.device)

    def step(self, group: list[list[int]]) -> tuple[float, int]:
        """One optimizer step; returns (mean loss over target tokens, input tokens)."""
        import torch

        self.model.train()
        chosen = [[self.train_set[i] for i in indices] for indices in group]
        n_targets = sum(e.targets for batch in chosen for e in batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss_total = 0.0
        for batch in chosen:
            loss_sum, _ = self.loss_sum(self.model, *self.batch(batch).args())
            (loss_sum / n_targets).backward()
            loss_total += loss_sum.item()
        params = [p for p in self.model.parameters() if p.requires_grad]
        torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        p = self.progress
        p.step, p.micro, p.tokens = p.step + 1, p.micro + len(group), p.tokens + n_targets
        p.last_loss = loss_total / n_targets
        return p.last_loss, sum(len(e.input_ids) for batch in chosen for e in batch)

    def evaluate(self) -> float:
        import torch

        self.model.eval()
        ordered = sorted(self.valid_set, key=lambda e: len(e.input_ids))
        size = self.config.batch_size
        batches = [ordered[i : i + size] for i in range(0, len(ordered), size)]
        if self.config.val_batches:
            batches = batches[:: max(1, len(batches) // self.config.val_batches)][
                : self.config.val_batches
            ]
        loss_total, count = 0.0, 0
        # Eager even with --compile: no second compilation for a no-grad graph.
        with torch.inference_mode(), torch.compiler.set_stance("force_eager"):
            for batch in batches:
                loss_sum, n = self.loss_sum(self.model, *self.batch(batch).args())
                loss_total, count = loss_total + loss_sum.item(), count + n
        self.progress.last_val_loss = loss_total / count
        return self.progress.last_val_loss


def _metrics_start(path: Path, resume_step: int | None) -> None:
    """Fresh run: empty the log. Resume: drop lines logged after the checkpoint."""
    if resume_step is None or not path.is_file():
        write_text_atomic(path, "")
        return
    lines = [
        line
        for line in path.read_text().splitlines()
        if line.strip() and json.loads(line)["step"] <= resume_step
    ]
    write_text_atomic(path, "".join(line + "\n" for line in lines))


def _save_weights(model, out: Path, config: TrainConfig) -> None:
    if config.train_mode == "full":
        from gemmaiku.train.full import save_blocks

        save_blocks(model, out, config.base)
    else:
        _save_adapter(model, out)


def _save_adapter(model, out: Path) -> None:
    """The final peft adapter files, each renamed into ``out`` (peft's own README is skipped)."""
    with tempfile.TemporaryDirectory(dir=out, prefix=".adapter.") as tmp:
        model.save_pretrained(tmp)
        for name in ADAPTER_FILES:
            with atomic_file(out / name) as target:
                shutil.copyfile(Path(tmp) / name, target)


def _check_resumable(config: TrainConfig, saved: dict) -> None:
    default = TrainConfig(data="", base="", out="")  # for keys older checkpoints lack
    changed = [
        k
        for k in TrainConfig.RESUME_KEYS
        if _norm(saved.get(k, getattr(default, k))) != _norm(getattr(config, k))
    ]
    if changed:
        raise GemmaikuError(
            f"--resume with different settings ({', '.join(changed)}); use the original ones or a new --out"
        )


def _norm(value):
    return list(value) if isinstance(value, tuple | list) else value


def _data_hash(data: Path) -> str | None:
    manifest = data / "MANIFEST.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        return json.loads(manifest.read_text())["sha256"]
    return None


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    keep_checkpoint: bool = False,
    on_step: Callable[[int, float], None] | None = None,
    console=None,
) -> dict:
    """Run (or resume) an SFT run; return the summary also written to training_args.json.

    A run that ends at ``config.stop_after`` (a stage) leaves its checkpoint, writes no weights and
    returns a summary whose result has ``"finished": False``."""
    import torch

    check_settings(config)
    data, base, out = Path(config.data), Path(config.base), Path(config.out)
    if not resume and (out / checkpoint.CHECKPOINT).exists():
        raise GemmaikuError(
            f"{out} holds an unfinished run (pass --resume to continue it, or choose another --out)"
        )
    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    configure_torch(config)

    tokenizer = load_tokenizer(base)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    lengths = (config.max_length, config.max_context)
    train_set, skipped = load_examples(data / "train.jsonl", tokenizer, *lengths)
    valid_set, _ = load_examples(data / "valid.jsonl", tokenizer, *lengths)

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    model = build_model(config, device, warm_start=not resume)
    run = _Run(config, model, train_set, valid_set, pad_id, device)
    if resume:
        run.progress, saved = checkpoint.load_state(out)
        _check_resumable(config, saved)
        checkpoint.restore(out, model, run.optimizer, run.scheduler, config.train_mode)
    metrics_path = out / METRICS
    _metrics_start(metrics_path, run.progress.step if resume else None)

    summary = _loop(run, out, metrics_path, on_step, console, skipped)
    if not summary["finished"]:
        return {**config.to_json(), "result": summary}

    _save_weights(model, out, config)
    result = {
        **config.to_json(),
        "data_sha256": _data_hash(data),
        "device": device,
        "versions": _versions(),
        "result": summary,
    }
    write_text_atomic(out / ARGS, json.dumps(result, indent=2) + "\n")
    if not keep_checkpoint:
        shutil.rmtree(out / checkpoint.CHECKPOINT, ignore_errors=True)
    return result


def _versions() -> dict:
    import peft
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }


def _loop(run: _Run, out: Path, metrics_path: Path, on_step, console, skipped: int) -> dict:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    config, p = run.config, run.progress
    console = console or Console(stderr=True)
    stream = micro_batches(run.train_set, config.batch_size, config.seed, start=p.micro)
    started, window_start, window_tokens = time.monotonic(), time.monotonic(), 0
    elapsed_before = p.elapsed

    def elapsed() -> float:
        return elapsed_before + time.monotonic() - started

    def log(record: dict) -> None:
        with open(metrics_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def save() -> Path:
        p.elapsed = elapsed()
        return checkpoint.save(out, run.model, run.optimizer, run.scheduler, p, config.to_json())

    console.print(
        f"train {len(run.train_set)} conversations ({skipped} skipped), valid {len(run.valid_set)}; "
        f"{run.total} steps of {config.batch_size}x{config.grad_accum}; device {run.device}"
        + (f"; resuming at step {p.step}" if p.step else "")
    )
    columns = (
        TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}  val {task.fields[val]}  {task.fields[tps]} tok/s"),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
    )  # fmt: skip
    with (
        _StopFlag() as stop,
        Progress(*columns, console=console, disable=not console.is_terminal) as bar,
    ):
        task = bar.add_task("train", total=run.total, completed=p.step, loss="-", val="-", tps="-")
        # A first Ctrl-C only sets stop.requested: the step in flight finishes, a checkpoint is
        # saved, then KeyboardInterrupt goes up. A second Ctrl-C interrupts at once and keeps the
        # last periodic checkpoint (a half-done step is never saved).
        while p.step < run.total:
            group = []
            for _ in range(config.grad_accum):
                _, indices = next(stream)
                group.append(indices)
            loss, tokens = run.step(group)
            window_tokens += tokens
            record = {
                "step": p.step,
                "epoch": round(p.micro * config.batch_size / len(run.train_set), 4),
                "loss": round(loss, 5),
                "lr": run.scheduler.get_last_lr()[0],
            }
            if p.step % config.log_interval == 0 or p.step == run.total:
                now = time.monotonic()
                tps = window_tokens / max(1e-9, now - window_start)
                window_start, window_tokens = now, 0
                record |= {
                    "tokens_per_s": round(tps, 1),
                    "elapsed_s": round(elapsed(), 2),
                    "tokens": p.tokens,
                }
                bar.update(task, loss=f"{loss:.3f}", tps=f"{tps:.0f}")
                if not console.is_terminal:
                    console.print(
                        f"step {p.step}/{run.total} loss {loss:.4f} lr {record['lr']:.2e} "
                        f"{tps:.0f} tok/s elapsed {elapsed():.0f}s"
                    )
            if config.eval_interval and (p.step % config.eval_interval == 0 or p.step == run.total):
                record["val_loss"] = round(run.evaluate(), 5)
                bar.update(task, val=f"{record['val_loss']:.3f}")
                console.print(f"step {p.step}: val_loss {record['val_loss']:.4f}")
            log(record)
            bar.update(task, completed=p.step)
            if on_step is not None:
                try:
                    on_step(p.step, loss)
                except KeyboardInterrupt:
                    stop.requested = True
            if stop.requested:
                where = save()
                console.print(
                    f"interrupted: checkpoint at step {p.step} in {where} (continue with --resume)"
                )
                raise KeyboardInterrupt
            if config.stop_after and p.step >= config.stop_after and p.step < run.total:
                where = save()
                console.print(
                    f"stage done: checkpoint at step {p.step} in {where} (continue with --resume)"
                )
                return {"finished": False, "steps": p.step, "elapsed_s": round(elapsed(), 1)}
            if config.save_interval and p.step % config.save_interval == 0 and p.step < run.total:
                save()
    if p.last_val_loss is None and run.valid_set:
        run.evaluate()
    return {
        "finished": True,
        "steps": p.step,
        "epochs": round(p.micro * config.batch_size / len(run.train_set), 4),
        "target_tokens": p.tokens,
        "final_loss": p.last_loss,
        "final_val_loss": p.last_val_loss,
        "elapsed_s": round(elapsed(), 1),
        "train_conversations": len(run.train_set),
        "skipped_conversations": skipped,
    }
