"""Preference tuning on the tiny Gemma 3: the reference is the starting adapter (margin 0 at the
start), and a few DPO steps raise the chosen reply over the rejected one."""

from __future__ import annotations

import json
import math

import pytest

from gemmaiku.train.config import TrainConfig
from gemmaiku.train.loop import train
from gemmaiku.train.preference import PreferenceConfig, dpo_loss, train_preference

pytestmark = pytest.mark.slow

PAIRS = [
    {"messages": [{"role": "user", "content": f"write about {topic}"}],
     "chosen": f"{topic} in the dark\neach drop finds its own small note\nthe gutter hums low",
     "rejected": f"{topic} is a thing that i like a lot"}
    for topic in ("rain", "snow", "wind", "fog", "hail", "dew", "mist", "sleet")
]


def test_dpo_loss_is_log_two_at_no_margin_and_falls_as_the_margin_grows():
    import torch

    zero = torch.zeros(3)
    loss, margin = dpo_loss(zero, zero, zero, zero, beta=0.1)
    assert torch.allclose(loss, torch.full((3,), math.log(2.0))) and torch.all(margin == 0)
    better, _ = dpo_loss(torch.tensor([1.0]), torch.tensor([-1.0]), torch.zeros(1), torch.zeros(1), beta=0.5)
    assert float(better) < math.log(2.0)


def test_a_few_dpo_steps_prefer_the_chosen_replies(tiny_corpus, chat_model_dir, tmp_path):
    sft = tmp_path / "sft"
    train(TrainConfig(data=str(tiny_corpus), base=str(chat_model_dir), out=str(sft), rank=4, alpha=8, dropout=0.0,
                      lr=5e-3, max_steps=4, batch_size=2, max_length=128, eval_interval=0, save_interval=0))
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in PAIRS * 4))
    config = PreferenceConfig(str(pairs), str(sft), str(tmp_path / "dpo"), str(chat_model_dir), beta=0.5,
                              sft_weight=0.0, lr=2e-2, epochs=3, batch_size=4, max_length=128, max_context=64,
                              valid_fraction=0.2)
    summary = train_preference(config, progress=False)
    assert summary["start"]["val_dpo_loss"] == pytest.approx(math.log(2.0), abs=1e-4)  # policy == reference
    assert summary["end"]["val_dpo_loss"] < summary["start"]["val_dpo_loss"]
    assert summary["end"]["val_chosen_wins"] >= summary["start"]["val_chosen_wins"]
    assert (tmp_path / "dpo" / "adapter_model.safetensors").is_file()
    saved = json.loads((tmp_path / "dpo" / "training_args.json").read_text())
    assert saved["init_adapter"] == str(sft) and saved["result"]["steps"] == summary["steps"]
