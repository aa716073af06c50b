"""Packed rows give every conversation exactly its unpacked loss (no attention across examples).

The tiny Gemma 3 has a sliding-window layer (window 16) and a full-attention layer, and the
conversations are 100-200 tokens, so both the window and RoPE see positions far from 0: they must
restart for each packed conversation for the losses to agree.
"""

from __future__ import annotations

import pytest
from train_helpers import CONVERSATIONS, char_tokenizer

from gemmaiku.train.dataset import IGNORE, encode, make_batch, pack_rows


def _model(tiny_gemma_dir, attn: str):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        tiny_gemma_dir, dtype=torch.float32, attn_implementation=attn
    )
    return model.eval()


def _token_losses(model, batch):
    """(rows, T-1) cross-entropy of each position's next token, 0 where no loss is taken."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        logits = model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
            use_cache=False,
        ).logits[:, :-1]
    targets = batch.labels[:, 1:]
    losses = F.cross_entropy(
        logits.transpose(1, 2), targets.clamp(min=0), reduction="none"
    )  # (rows, T-1)
    return losses * (targets != IGNORE)


def _examples():
    tokenizer = char_tokenizer()
    examples = [encode(r["messages"], tokenizer, 1024) for r in CONVERSATIONS] * 2
    return examples, tokenizer.pad_token_id


def _packed_losses(model, examples, pad_id, width):
    batch = make_batch(examples, pad_id, pack_width=width)
    losses = _token_losses(model, batch)
    per_example = {}
    for row, members in enumerate(pack_rows([len(e.input_ids) for e in examples], width)):
        start = 0
        for index in members:
            end = start + len(examples[index].input_ids)
            # position t predicts token t + 1: an example's losses sit at [start, end - 1)
            per_example[index] = losses[row, start : end - 1].sum().item()
            if end - 1 < losses.shape[1]:  # its last token predicts the next one's <bos>: no loss
                assert losses[row, end - 1].item() == 0
            start = end
    return per_example, batch


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_losses_equal_unpacked_ones(tiny_gemma_dir, attn):
    model = _model(tiny_gemma_dir, attn)
    examples, pad_id = _examples()
    alone = [_token_losses(model, make_batch([e], pad_id)).sum().item() for e in examples]
    width = 2 * max(len(e.input_ids) for e in examples) + 30
    packed, batch = _packed_losses(model, examples, pad_id, width)
    assert batch.input_ids.shape[0] < len(examples) // 2 + 1  # really packed
    assert sorted(packed) == list(range(len(examples)))
    for index, loss in enumerate(alone):
        assert abs(packed[index] - loss) / examples[index].targets < 1e-5, index
    padded = _token_losses(model, make_batch(examples, pad_id)).sum().item()
    assert abs(sum(packed.values()) - padded) / sum(e.targets for e in examples) < 1e-5


def test_packing_without_restarting_positions_would_leak(tiny_gemma_dir):
    """The check above can fail: one row with continuous positions lets examples see each other."""
    import torch

    model = _model(tiny_gemma_dir, "sdpa")
    examples, pad_id = _examples()
    width = 2 * max(len(e.input_ids) for e in examples) + 30
    batch = make_batch(examples, pad_id, pack_width=width)
    batch.position_ids = torch.arange(batch.input_ids.shape[1]).expand_as(batch.input_ids)
    leaky = _token_losses(model, batch).sum().item()
    packed, _ = _packed_losses(model, examples, pad_id, width)
    assert abs(leaky - sum(packed.values())) / sum(e.targets for e in examples) > 1e-3
