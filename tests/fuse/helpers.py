"""Helpers for the fusion tests: a tiny tokenizer, adapter makers for peft and mlx_lm."""

from __future__ import annotations

import json
from pathlib import Path

ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# Layer-relative module -> (in_features, out_features) in the tiny config of tests/conftest.py.
TINY_SHAPES = {
    "self_attn.q_proj": (64, 64),
    "self_attn.k_proj": (64, 32),
    "self_attn.v_proj": (64, 32),
    "self_attn.o_proj": (64, 64),
    "mlp.gate_proj": (64, 128),
    "mlp.up_proj": (64, 128),
    "mlp.down_proj": (128, 64),
}


def add_tiny_tokenizer(folder: Path) -> None:
    """A 64-word tokenizer: mlx_lm's loader wants one in the model folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3} | {f"w{i}": i for i in range(4, 64)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
    ).save_pretrained(folder)


def make_peft_adapter(base: Path, out: Path, seed: int = 0, b_gain: float = 20.0, **lora) -> Path:
    """Save a peft LoRA for ``base`` with random, non-zero A and B (init_lora_weights=False)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(
        **{
            "r": 4,
            "lora_alpha": 8,
            "target_modules": ALL_PROJECTIONS,
            "task_type": "CAUSAL_LM",
            "init_lora_weights": False,
        }
        | lora
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():  # peft's random B is small; make the update clearly visible in logits
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.mul_(b_gain)
            if "lora_magnitude_vector" in name:  # DoRA: move the magnitudes off the base's norms
                param.mul_(1 + 0.2 * torch.rand_like(param))
    peft_model.save_pretrained(out)
    return out


def make_mlx_adapter(
    out: Path,
    layers=(0, 1),
    keys=tuple(TINY_SHAPES),
    rank: int = 4,
    scale: float = 2.0,
    num_layers: int = -1,
    prefix: str = "model.",
    seed: int = 0,
    shapes=TINY_SHAPES,
    dora: bool = False,
    **config,
) -> Path:
    """Write an mlx_lm LoRA folder by hand, as mlx_lm's trainer lays it out."""
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in layers:
        for key in keys:
            fan_in, fan_out = shapes[key]
            tensors[f"{prefix}layers.{layer}.{key}.lora_a"] = (
                rng.standard_normal((fan_in, rank)).astype(np.float32) * 0.1
            )
            tensors[f"{prefix}layers.{layer}.{key}.lora_b"] = (
                rng.standard_normal((rank, fan_out)).astype(np.float32) * 0.1
            )
            if dora:
                magnitude = rng.uniform(0.5, 2.0, fan_out).astype(np.float32)
                tensors[f"{prefix}layers.{layer}.{key}.m"] = magnitude
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, out / "adapters.safetensors")
    settings = {
        "fine_tune_type": "dora" if dora else "lora",
        "num_layers": num_layers,
        "lora_parameters": {"rank": rank, "scale": scale, "dropout": 0.0, "keys": list(keys)},
    } | config
    (out / "adapter_config.json").write_text(json.dumps(settings))
    return out


def edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def load_weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    weights = {}
    for file in sorted(folder.glob("*.safetensors")):
        weights |= load_file(file)
    return weights
