"""Cross-entropy on assistant tokens, with logits computed only where loss is taken.

A causal LM's head turns every hidden state into 262,144 logits; on a 2-core CPU that head is
30-55% of a training step. Only the positions that predict a target token matter, so we run the
model body, gather those hidden states (N, H), and apply the (tied) head to them alone.

Three loss functions, one table (``LOSSES``), all returning (sum of target cross-entropies, number
of targets) for the same batch:

| name | head | why |
|---|---|---|
| ``full`` | logits at every position, then the masked cross-entropy | what a generic trainer does (the reference) |
| ``selected`` | logits at target positions, autograd cross-entropy | the head on N rows, not B x T |
| ``fused`` | logits at target positions; the gradient is made in the forward pass | no saved logits, no softmax backward |

``fused`` is exact (same loss, same gradient to float rounding) when the head's weight is frozen,
which it is in every mode the trainer has (LoRA and full fine-tuning of the blocks both keep the
tied embeddings frozen); with a trainable head it falls back to ``selected``.
"""

from __future__ import annotations

from typing import NamedTuple

from gemmaiku.train.dataset import IGNORE

FUSED_ROWS = 256  # target rows per head chunk in `fused`: bounds the (rows, vocab) logits buffer


class LMParts(NamedTuple):
    body: object  # the decoder stack: ids -> (B, T, H) hidden states
    lm_head: object  # (H -> V), tied to the input embeddings in Gemma 3
    softcap: float | None  # Gemma's final_logit_softcapping


def causal_lm_parts(model) -> LMParts:
    """(body, lm_head, softcap) of a Gemma-style causal LM, peft-wrapped or not."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    softcap = getattr(inner.config, "final_logit_softcapping", None)
    return LMParts(inner.model, inner.lm_head, softcap)


def head(hidden, lm_head, softcap):
    """Logits from hidden states, honouring Gemma's optional final soft-capping."""
    import torch

    logits = lm_head(hidden)
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    return logits


def _picked(model, input_ids, attention_mask, labels, position_ids):
    """Hidden states at the positions whose next token is a target (N, H), and those targets."""
    hidden = (
        causal_lm_parts(model)
        .body(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=False,
        )
        .last_hidden_state
    )  # (B, T, H)
    targets = labels[:, 1:]  # position t predicts token t + 1
    keep = targets != IGNORE
    return hidden[:, :-1][keep], targets[keep]


def selected_loss_sum(model, input_ids, attention_mask, labels, position_ids=None):
    """(sum of token cross-entropies over target positions, number of targets).

    ``position_ids`` with ``attention_mask=None`` is the packed form (positions restart at 0 for
    each packed conversation; transformers then builds a block-diagonal causal mask)."""
    import torch.nn.functional as F

    parts = causal_lm_parts(model)
    picked, targets = _picked(model, input_ids, attention_mask, labels, position_ids)
    logits = head(picked, parts.lm_head, parts.softcap).float()  # (N, V)
    return F.cross_entropy(logits, targets, reduction="sum"), int(targets.numel())


def fused_loss_sum(model, input_ids, attention_mask, labels, position_ids=None):
    """``selected_loss_sum`` with the head's cross-entropy and its gradient in one pass."""
    parts = causal_lm_parts(model)
    weight = parts.lm_head.weight
    if weight.requires_grad or getattr(parts.lm_head, "bias", None) is not None:
        return selected_loss_sum(model, input_ids, attention_mask, labels, position_ids)
    picked, targets = _picked(model, input_ids, attention_mask, labels, position_ids)
    loss = _FrozenHeadCrossEntropy.apply(picked, weight, targets, parts.softcap)
    return loss, int(targets.numel())


def full_logits_loss_sum(model, input_ids, attention_mask, labels, position_ids=None):
    """The plain reference: logits at every position, then the same masked cross-entropy."""
    import torch.nn.functional as F

    logits = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=False,
    ).logits
    logits = logits[:, :-1].float()
    targets = labels[:, 1:]
    loss = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)),
        targets.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    return loss, int((targets != IGNORE).sum())


LOSSES = {
    "full": full_logits_loss_sum,
    "selected": selected_loss_sum,
    "fused": fused_loss_sum,
}


def _make_frozen_head_ce():
    import torch

    class FrozenHeadCrossEntropy(torch.autograd.Function):
        """sum_i CE(softcap(h_i W^T), y_i) with W frozen; d/dh is computed in the forward pass.

        Per chunk of rows: logits (in place from here on), logsumexp, loss; then the logits
        buffer becomes softmax - onehot (times the soft-cap's derivative) and is multiplied by W.
        Autograd would keep the (N, V) logits and the log-softmax for the backward pass and walk
        them again; here only the (N, H) gradient is kept.
        """

        @staticmethod
        def forward(ctx, hidden, weight, targets, softcap):
            need_grad = ctx.needs_input_grad[0]
            total = torch.zeros((), dtype=torch.float32, device=hidden.device)
            grad = torch.empty_like(hidden) if need_grad else None
            for start in range(0, hidden.shape[0], FUSED_ROWS):
                rows = slice(start, start + FUSED_ROWS)
                logits = (hidden[rows] @ weight.T).float()  # (n, V)
                capped = None
                if softcap is not None:
                    capped = torch.tanh(logits.div_(softcap))  # (n, V)
                    logits = capped * softcap
                lse = torch.logsumexp(logits, dim=-1)  # (n,)
                y = targets[rows].unsqueeze(1)
                total += (lse - logits.gather(1, y).squeeze(1)).sum()
                if need_grad:
                    probs = logits.sub_(lse.unsqueeze(1)).exp_()  # softmax, in place
                    probs.scatter_add_(1, y, torch.full_like(y, -1.0, dtype=probs.dtype))
                    if capped is not None:  # d softcap*tanh(z/softcap) / dz = 1 - tanh^2
                        probs.mul_(capped.square_().neg_().add_(1.0))
                    grad[rows] = (probs.to(weight.dtype) @ weight).to(grad.dtype)
            ctx.save_for_backward(grad)
            return total

        @staticmethod
        def backward(ctx, grad_output):
            (grad,) = ctx.saved_tensors
            return grad * grad_output, None, None, None

    return FrozenHeadCrossEntropy


class _LazyFunction:
    """Builds the autograd Function on first use: torch is not imported with this module."""

    def __init__(self, factory):
        self._factory, self._function = factory, None

    def apply(self, *args):
        if self._function is None:
            self._function = self._factory()
        return self._function.apply(*args)


_FrozenHeadCrossEntropy = _LazyFunction(_make_frozen_head_ce)
