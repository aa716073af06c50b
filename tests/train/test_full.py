"""Full fine-tuning of the blocks: only they change, and the saved weights give the same model."""

from __future__ import annotations

import json

import pytest
from train_helpers import CONVERSATIONS, char_tokenizer

from gemmaiku.errors import GemmaikuError
from gemmaiku.train.config import TrainConfig
from gemmaiku.train.dataset import collate, encode
from gemmaiku.train.full import BLOCKS_FILE, CONFIG_FILE, apply_blocks, load_blocks, main
from gemmaiku.train.loop import train
from gemmaiku.train.loss import selected_loss_sum

pytestmark = pytest.mark.slow


def _config(corpus, base, out, **overrides) -> TrainConfig:
    settings = dict(
        train_mode="full", lr=1e-3, warmup_steps=1, max_steps=3, batch_size=2, max_length=256,
        seed=4, eval_interval=0, save_interval=0, loss="fused",
    )  # fmt: skip
    return TrainConfig(data=str(corpus), base=str(base), out=str(out), **{**settings, **overrides})


def _base(folder):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


def _valid_loss(model) -> float:
    """The trainer's validation loss (valid.jsonl is CONVERSATIONS[:2]), in one batch."""
    import torch

    tokenizer = char_tokenizer()
    batch = collate([encode(r["messages"], tokenizer, 256) for r in CONVERSATIONS[:2]], 0)
    with torch.no_grad():
        loss_sum, n = selected_loss_sum(model, *batch)
    return loss_sum.item() / n


def test_full_mode_trains_only_the_blocks_and_its_weights_reload_exactly(
    tiny_corpus, chat_model_dir, tmp_path
):
    import torch

    out = tmp_path / "full"
    result = train(_config(tiny_corpus, chat_model_dir, out))
    assert (out / BLOCKS_FILE).is_file() and not (out / "adapter_model.safetensors").exists()
    assert json.loads((out / CONFIG_FILE).read_text())["base_model_name_or_path"] == str(
        chat_model_dir
    )

    base = _base(chat_model_dir)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    load_blocks(base, out)
    changed = {k for k, v in base.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("model.layers.") for k in changed)
    assert any(k.endswith("q_proj.weight") for k in changed)
    assert any(k.endswith("layernorm.weight") for k in changed)  # norms train too
    # the trainer's own final validation loss, computed in memory before saving
    assert abs(_valid_loss(base) - result["result"]["final_val_loss"]) < 1e-5

    fused = apply_blocks(chat_model_dir, out, tmp_path / "fused")
    main([str(out), "--out", str(tmp_path / "by-cli"), "--base", str(chat_model_dir)])
    with pytest.raises(SystemExit, match="already exists"):
        main([str(out), "--out", str(tmp_path / "by-cli"), "--base", str(chat_model_dir)])
    reloaded = _base(tmp_path / "by-cli")
    ids = torch.tensor([[2, 4, 30, 31, 32, 5, 4, 40, 41]])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, base(input_ids=ids).logits)
    assert (fused / "tokenizer.json").is_file() and (fused / "config.json").is_file()
    with torch.no_grad():
        torch.testing.assert_close(_base(fused)(input_ids=ids).logits, base(input_ids=ids).logits)


def test_init_weights_warm_starts_a_full_run(tiny_corpus, chat_model_dir, tmp_path):
    from safetensors.torch import load_file

    first = tmp_path / "first"
    train(_config(tiny_corpus, chat_model_dir, first, max_steps=2))
    second = tmp_path / "second"  # lr 0: the weights stay exactly the loaded ones
    train(
        _config(tiny_corpus, chat_model_dir, second, max_steps=1, lr=0.0, init_weights=str(first))
    )
    a, b = load_file(first / BLOCKS_FILE), load_file(second / BLOCKS_FILE)
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    with pytest.raises(GemmaikuError, match="no model_blocks.safetensors"):
        train(_config(tiny_corpus, chat_model_dir, tmp_path / "x", init_weights=str(tmp_path)))
