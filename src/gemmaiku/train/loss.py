"""Cross-entropy on assistant tokens, with logits computed only where loss is taken.

A causal LM's head turns every hidden state into 262,144 logits; on a 2-core CPU that head is
30-55% of a training step. Only the positions that predict a target token matter, so we run the
model body, gather those hidden states (N, H), and apply the (tied) head to them alone.
"""

from __future__ import annotations

from gemmaiku.train.dataset import IGNORE


def causal_lm_parts(model):
    """(body, lm_head, softcap) of a Gemma-style causal LM, peft-wrapped or not."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = inner.config
    softcap = getattr(config, "final_logit_softcapping", None)
    return inner.model, inner.lm_head, softcap


def head(hidden, lm_head, softcap):
    """Logits from hidden states, honouring Gemma's optional final soft-capping."""
    import torch

    logits = lm_head(hidden)
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    return logits


def selected_loss_sum(model, input_ids, attention_mask, labels):
    """(sum of token cross-entropies over target positions, number of targets)."""
    import torch.nn.functional as F

    body, lm_head, softcap = causal_lm_parts(model)
    hidden = body(
        input_ids=input_ids, attention_mask=attention_mask, use_cache=False
    ).last_hidden_state
    targets = labels[:, 1:]  # position t predicts token t + 1
    keep = targets != IGNORE
    picked = hidden[:, :-1][keep]  # (N, H)
    logits = head(picked, lm_head, softcap).float()  # (N, V)
    return F.cross_entropy(logits, targets[keep], reduction="sum"), int(keep.sum())


def full_logits_loss_sum(model, input_ids, attention_mask, labels):
    """The plain reference: logits at every position, then the same masked cross-entropy."""
    import torch.nn.functional as F

    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    logits = logits[:, :-1].float()
    targets = labels[:, 1:]
    loss = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)),
        targets.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    return loss, int((targets != IGNORE).sum())
