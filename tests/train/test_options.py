"""The trainer's speed options change the speed, not the run: same losses, same adapter."""

from __future__ import annotations

import json

import pytest

from gemmaiku.errors import GemmaikuError
from gemmaiku.train.config import TrainConfig
from gemmaiku.train.loop import train

pytestmark = pytest.mark.slow


def _config(corpus, base, out, **overrides) -> TrainConfig:
    settings = dict(
        rank=4, alpha=8, dropout=0.0, lr=5e-3, warmup_steps=1, max_steps=4, batch_size=3,
        grad_accum=2, max_length=256, seed=5, eval_interval=2, save_interval=0,
    )  # fmt: skip
    return TrainConfig(data=str(corpus), base=str(base), out=str(out), **{**settings, **overrides})


def _losses(out) -> list[tuple[float, float | None]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [(r["loss"], r.get("val_loss")) for r in rows]


def _adapter(out):
    from safetensors.torch import load_file

    return load_file(out / "adapter_model.safetensors")


def _same_run(a, b, tolerance: float) -> None:
    import torch

    for (loss_a, val_a), (loss_b, val_b) in zip(_losses(a), _losses(b), strict=True):
        assert abs(loss_a - loss_b) <= tolerance
        assert (val_a is None) == (val_b is None)
        assert val_a is None or abs(val_a - val_b) <= tolerance
    weights_a, weights_b = _adapter(a), _adapter(b)
    assert weights_a.keys() == weights_b.keys()
    for key in weights_a:
        torch.testing.assert_close(weights_a[key], weights_b[key], rtol=1e-4, atol=1e-5)


def test_packing_and_the_fused_head_reproduce_the_default_run(
    tiny_corpus, chat_model_dir, tmp_path
):
    default = tmp_path / "default"
    train(_config(tiny_corpus, chat_model_dir, default))
    fast = tmp_path / "fast"
    result = train(
        _config(tiny_corpus, chat_model_dir, fast, loss="fused", pack=400, pad_multiple=16)
    )
    assert result["loss"] == "fused" and result["pack"] == 400
    _same_run(default, fast, tolerance=2e-5)


def test_compiled_body_reproduces_the_eager_run(tiny_corpus, chat_model_dir, tmp_path):
    eager = tmp_path / "eager"
    train(_config(tiny_corpus, chat_model_dir, eager, max_steps=2, grad_accum=1))
    compiled = tmp_path / "compiled"
    train(
        _config(
            tiny_corpus, chat_model_dir, compiled, max_steps=2, grad_accum=1, compile=True,
            pad_multiple=64, loss="fused",
        )
    )  # fmt: skip
    _same_run(eager, compiled, tolerance=2e-5)


def test_max_context_cuts_the_prompt_not_the_final_reply(tiny_corpus, chat_model_dir, tmp_path):
    from train_helpers import CONVERSATIONS, char_tokenizer

    from gemmaiku.train.dataset import encode

    # one step of 2 micro-batches (3 + 1 conversations) is exactly one pass over the 4
    out = tmp_path / "short"
    result = train(_config(tiny_corpus, chat_model_dir, out, max_steps=1, max_context=24))
    assert result["max_context"] == 24 and result["result"]["skipped_conversations"] == 0
    tokenizer = char_tokenizer()
    cut = [encode(r["messages"], tokenizer, 256, max_context=24) for r in CONVERSATIONS]
    assert result["result"]["target_tokens"] == sum(e.targets for e in cut)
    for example, row in zip(cut, CONVERSATIONS, strict=True):
        reply = row["messages"][-1]["content"] + "<end_of_turn>"
        ids = tokenizer(reply, add_special_tokens=False)["input_ids"]
        ends = [
            i
            for i in range(len(example.input_ids))
            if list(example.input_ids[i : i + len(ids)]) == ids
        ]
        assert ends and ends[-1] <= 24  # the whole final reply, after at most 24 tokens
        assert ends[-1] == 24 or len(encode(row["messages"], tokenizer, 256).input_ids) == len(
            example.input_ids
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(loss="logits"), "unknown loss 'logits'"),
        (dict(train_mode="half"), "unknown train mode 'half'"),
        (dict(matmul_precision="low"), "unknown matmul precision"),
        (dict(train_mode="full", init_adapter="x"), "--init-weights"),
        (dict(init_weights="x"), "--init-adapter"),
        (dict(max_context=1), "--max-context"),
    ],
)
def test_bad_settings_are_one_clear_error(
    tiny_corpus, chat_model_dir, tmp_path, overrides, message
):
    with pytest.raises(GemmaikuError, match=message):
        train(_config(tiny_corpus, chat_model_dir, tmp_path / "run", **overrides))


def test_the_cli_offers_every_loss_in_the_table():
    from gemmaiku.train.cli import LOSS_CHOICES
    from gemmaiku.train.loss import LOSSES

    assert tuple(LOSSES) == LOSS_CHOICES
