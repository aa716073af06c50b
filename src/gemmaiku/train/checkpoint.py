"""Checkpoints: trained weights + optimizer + scheduler + RNG + progress, written atomically.

The weights are the peft adapter (LoRA mode) or the decoder blocks' tensors (full mode).

``OUT/checkpoint/`` always holds the latest complete checkpoint: it is written in a temporary
folder and renamed into place, so a crash or a second Ctrl-C during the save keeps the last one.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from gemmaiku.atomic import atomic_dir
from gemmaiku.errors import GemmaikuError

CHECKPOINT = "checkpoint"
STATE = "state.json"
TENSORS = "trainer_state.pt"


@dataclass
class Progress:
    step: int = 0  # optimizer steps done
    micro: int = 0  # micro-batches consumed
    tokens: int = 0  # target tokens trained on
    elapsed: float = 0.0  # seconds of training before this process
    last_loss: float | None = None
    last_val_loss: float | None = None


def save(out: Path, model, optimizer, scheduler, progress: Progress, config: dict) -> Path:
    import torch

    with atomic_dir(out / CHECKPOINT) as tmp:
        if config.get("train_mode", "lora") == "full":
            from gemmaiku.train.full import save_blocks

            save_blocks(model, tmp, config["base"])
        else:
            model.save_pretrained(tmp)
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "python_rng": random.getstate(),
            },
            tmp / TENSORS,
        )
        (tmp / STATE).write_text(
            json.dumps({"progress": vars(progress), "config": config}, indent=2) + "\n"
        )
    return out / CHECKPOINT


def load_state(out: Path) -> tuple[Progress, dict]:
    path = out / CHECKPOINT / STATE
    if not path.is_file():
        raise GemmaikuError(
            f"no checkpoint in {out} to resume from (drop --resume to start afresh)"
        )
    state = json.loads(path.read_text())
    return Progress(**state["progress"]), state["config"]


def restore(out: Path, model, optimizer, scheduler, train_mode: str = "lora") -> None:
    """Load weights, optimizer, scheduler and RNG states from ``out/checkpoint``."""
    import torch

    folder = out / CHECKPOINT
    if train_mode == "full":
        from gemmaiku.train.full import load_blocks

        load_blocks(model, folder)
    else:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        weights = load_file(folder / "adapter_model.safetensors")
        result = set_peft_model_state_dict(model, weights)
        if getattr(result, "unexpected_keys", None):
            raise GemmaikuError(
                f"checkpoint in {folder} does not fit this model (start afresh without --resume)"
            )
    blob = torch.load(folder / TENSORS, weights_only=False)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    torch.set_rng_state(blob["torch_rng"])
    if blob["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(blob["cuda_rng"])
    random.setstate(blob["python_rng"])
