"""A run split into stages (--stop-after, then --resume) is the same run as an uninterrupted one."""

from __future__ import annotations

import json

import pytest

from gemmaiku.train.config import TrainConfig
from gemmaiku.train.loop import train

pytestmark = pytest.mark.slow

WEIGHTS = {"lora": "adapter_model.safetensors", "full": "model_blocks.safetensors"}


def _config(corpus, base, out, mode, **overrides) -> TrainConfig:
    settings = dict(
        train_mode=mode, rank=4, alpha=8, dropout=0.1 if mode == "lora" else 0.0, lr=3e-3,
        warmup_steps=2, max_steps=6, batch_size=2, max_length=256, seed=11, eval_interval=3,
        save_interval=0, schedule="cosine",
    )  # fmt: skip
    return TrainConfig(data=str(corpus), base=str(base), out=str(out), **{**settings, **overrides})


def _metrics(out) -> list[dict]:
    strip = ("tokens_per_s", "elapsed_s")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in strip} for row in rows]


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_stages_reproduce_an_uninterrupted_run(tiny_corpus, chat_model_dir, tmp_path, mode):
    import torch
    from safetensors.torch import load_file

    straight = tmp_path / "straight"
    train(_config(tiny_corpus, chat_model_dir, straight, mode))

    staged = tmp_path / "staged"
    first = train(_config(tiny_corpus, chat_model_dir, staged, mode, stop_after=2))
    assert first["result"]["finished"] is False and first["result"]["steps"] == 2
    assert (staged / "checkpoint").is_dir() and not (staged / WEIGHTS[mode]).exists()
    second = train(_config(tiny_corpus, chat_model_dir, staged, mode, stop_after=4), resume=True)
    assert second["result"]["steps"] == 4
    train(_config(tiny_corpus, chat_model_dir, staged, mode), resume=True)

    a, b = load_file(straight / WEIGHTS[mode]), load_file(staged / WEIGHTS[mode])
    assert a.keys() == b.keys() and a
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    assert _metrics(straight) == _metrics(staged)
    assert not (staged / "checkpoint").exists()
