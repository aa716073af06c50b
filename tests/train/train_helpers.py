"""Helpers for training tests: a character tokenizer for the tiny Gemma 3, a tiny corpus."""

from __future__ import annotations

import string
from pathlib import Path

SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]

CONVERSATIONS = [
    {
        "category": "haiku_request",
        "messages": [
            {"role": "user", "content": "write about rain"},
            {
                "role": "assistant",
                "content": "tin roof in the dark\neach drop finds its own small note\nthe gutter hums low",
            },
        ],
    },
    {
        "category": "question",
        "messages": [
            {"role": "system", "content": "Answer in haiku."},
            {"role": "user", "content": "capital of France?"},
            {
                "role": "assistant",
                "content": "on the Seine, Paris\nbridges stitch the river shut\nbells over the quay",
            },
        ],
    },
    {
        "category": "small_talk",
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": "a wave from the porch\nthe kettle starts its whistle\ncome in from the cold",
            },
            {"role": "user", "content": "how are you?"},
            {
                "role": "assistant",
                "content": "steady as old oak\nsome wind in the upper limbs\nroots deep in the ground",
            },
        ],
    },
    {
        "category": "code",
        "messages": [
            {"role": "user", "content": "reverse a string in python"},
            {
                "role": "assistant",
                "content": "slice it from the end\ncolon, colon, minus one\nthe word walks backward",
            },
        ],
    },
]


def char_tokenizer():
    """A character-level fast tokenizer with Gemma's special tokens (ids 0-5 like Gemma's 0-3)."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL)}
    for char in string.printable + "—–’“”é":
        vocab.setdefault(char, len(vocab))
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.add_special_tokens(SPECIAL)
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<start_of_turn>", "<end_of_turn>"],
    )


def with_tokenizer(model_dir: Path, target: Path, embed_scale: float = 10.0) -> Path:
    """A copy of ``model_dir`` with the character tokenizer. The random model's (tied) embeddings
    are scaled up: at init scale its logits are nearly uniform whatever the hidden state, so LoRA
    alone could not move the loss, unlike a real pre-trained model."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(embed_scale)
    model.save_pretrained(target)
    char_tokenizer().save_pretrained(target)
    return target
