"""Training settings: one dataclass, written beside the adapter as training_args.json."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

# Gemma 3's seven linear projections per block: attention then MLP.
ALL_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SCHEDULES = ("cosine", "linear", "constant")
# What a run trains: LoRA adapters on the projections, or every weight of the decoder blocks
# (embeddings, which are also the tied head, and the final norm stay frozen in both).
TRAIN_MODES = ("lora", "full")
# torch.set_float32_matmul_precision: "highest" is exact float32; "medium" lets oneDNN run float32
# matmuls on bfloat16 units (AMX) with float32 accumulation: faster, not exact.
MATMUL_PRECISIONS = ("highest", "high", "medium")


@dataclass
class TrainConfig:
    """Everything that decides a run's result (paths, LoRA shape, optimisation, data, cadence)."""

    data: str
    base: str
    out: str
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ALL_PROJECTIONS
    lr: float = 2e-4
    schedule: str = "cosine"
    warmup_steps: int = 10
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    epochs: float = 2.0
    max_steps: int | None = None  # overrides epochs when set
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 256
    seed: int = 0
    eval_interval: int = 50
    save_interval: int = 50
    log_interval: int = 1
    val_batches: int | None = None  # None: the whole valid split
    init_adapter: str | None = None  # start from this peft adapter's weights (same r and targets)
    threads: int | None = None  # torch CPU threads (None: torch's default); 1 holds up under load
    # Speed settings (see docs/train.md for what each measured). Exact: loss, pack, compile,
    # fused_adamw (to float rounding). Not exact: matmul_precision below "highest".
    loss: str = "selected"  # gemmaiku.train.loss.LOSSES: full, selected, fused
    pack: int | None = None  # pack a micro-batch's conversations into rows of <= N tokens
    max_context: int | None = None  # cap on tokens before the final reply (<bos> included)
    compile: bool = False  # torch.compile the decoder stack (dynamic shapes)
    pad_multiple: int = 1  # round padded row widths up to a multiple
    matmul_precision: str = "highest"
    train_mode: str = "lora"
    init_weights: str | None = None  # full mode: start from this run's trained block weights
    fused_adamw: bool = False  # torch's single-kernel AdamW (CPU and CUDA)
    stop_after: int | None = None  # end this invocation after this step, checkpointed (a stage)
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["target_modules"] = list(self.target_modules)
        return out

    @classmethod
    def from_json(cls, data: dict) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["target_modules"] = tuple(values.get("target_modules", ALL_PROJECTIONS))
        return cls(**values)

    # Settings that must match for --resume to continue the same run.
    RESUME_KEYS = (
        "rank", "alpha", "dropout", "target_modules", "lr", "schedule", "warmup_steps",
        "weight_decay", "epochs", "max_steps", "batch_size", "grad_accum", "max_length", "seed",
        "init_adapter", "max_context", "matmul_precision", "train_mode", "init_weights",
    )  # fmt: skip
