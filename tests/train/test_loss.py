"""Selected-position and fused-head losses equal the full-logits cross-entropy (and its gradient)."""

from __future__ import annotations

import pytest
from train_helpers import CONVERSATIONS, char_tokenizer

from gemmaiku.train.dataset import collate, encode
from gemmaiku.train.loss import full_logits_loss_sum, fused_loss_sum, selected_loss_sum


@pytest.mark.parametrize("softcap", [None, 2.0])
@pytest.mark.parametrize("lora", [False, True])
def test_selected_loss_matches_full_logits(tiny_gemma_dir, softcap, lora):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        tiny_gemma_dir, dtype=torch.float32, final_logit_softcapping=softcap
    ).eval()
    assert model.config.final_logit_softcapping == softcap
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=4, lora_alpha=8, target_modules=["q_proj", "down_proj"], init_lora_weights=False
            ),
        )
        model.eval()
    tokenizer = char_tokenizer()
    examples = [encode(r["messages"], tokenizer, 1024) for r in CONVERSATIONS]
    ids, mask, labels = collate(examples, tokenizer.pad_token_id)  # right padding included
    with torch.no_grad():
        ours, n_ours = selected_loss_sum(model, ids, mask, labels)
        ref, n_ref = full_logits_loss_sum(model, ids, mask, labels)
    assert n_ours == n_ref == sum(e.targets for e in examples)
    assert abs(ours.item() / n_ours - ref.item() / n_ref) < 1e-5
    assert ours.item() > 0


def _lora_tiny(tiny_gemma_dir, softcap=None):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        tiny_gemma_dir, dtype=torch.float32, final_logit_softcapping=softcap
    )
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "down_proj"], init_lora_weights=False
    )
    return get_peft_model(model, lora).eval()


def _loss_and_grads(model, loss_fn, batch):
    model.zero_grad()
    loss_sum, n = loss_fn(model, *batch)
    (loss_sum / n).backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad}
    return loss_sum.item() / n, grads


@pytest.mark.parametrize("softcap", [None, 2.0])
def test_fused_head_gives_the_same_loss_and_gradients(tiny_gemma_dir, softcap):

    model = _lora_tiny(tiny_gemma_dir, softcap)
    tokenizer = char_tokenizer()
    examples = [encode(r["messages"], tokenizer, 1024) for r in CONVERSATIONS]
    batch = collate(examples, tokenizer.pad_token_id)
    ref, ref_grads = _loss_and_grads(model, full_logits_loss_sum, batch)
    for loss_fn in (selected_loss_sum, fused_loss_sum):
        loss, grads = _loss_and_grads(model, loss_fn, batch)
        assert abs(loss - ref) < 1e-5
        for key, grad in grads.items():
            scale = ref_grads[key].abs().max()
            assert scale > 0, key  # init_lora_weights=False: every LoRA weight gets a gradient
            assert (grad - ref_grads[key]).abs().max() <= 1e-5 * scale, key


def test_fused_head_chunks_rows_and_skips_the_gradient_without_grad(tiny_gemma_dir, monkeypatch):
    import torch

    from gemmaiku.train import loss as loss_module

    model = _lora_tiny(tiny_gemma_dir, 3.0)
    tokenizer = char_tokenizer()
    batch = collate([encode(r["messages"], tokenizer, 1024) for r in CONVERSATIONS], 0)
    whole, whole_grads = _loss_and_grads(model, fused_loss_sum, batch)
    monkeypatch.setattr(loss_module, "FUSED_ROWS", 7)  # many chunks, a ragged last one
    chunked, chunked_grads = _loss_and_grads(model, fused_loss_sum, batch)
    assert abs(whole - chunked) < 1e-6
    for key in whole_grads:
        torch.testing.assert_close(whole_grads[key], chunked_grads[key], rtol=1e-5, atol=1e-7)
    with torch.inference_mode():
        loss_sum, n = fused_loss_sum(model, *batch)
    assert abs(loss_sum.item() / n - whole) < 1e-6 and not loss_sum.requires_grad
