"""Selected-position loss equals the full-logits cross-entropy on the same positions."""

from __future__ import annotations

import pytest
from train_helpers import CONVERSATIONS, char_tokenizer

from gemmaiku.train.dataset import collate, encode
from gemmaiku.train.loss import full_logits_loss_sum, selected_loss_sum


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
