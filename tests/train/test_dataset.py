"""Tokenization and the loss mask: only assistant replies (with <end_of_turn>) are targets."""

from __future__ import annotations

from train_helpers import CONVERSATIONS, char_tokenizer

from gemmaiku.chat import render_chat
from gemmaiku.train.dataset import IGNORE, encode, epoch_batches, micro_batches, segments


def _targets(example, tokenizer) -> str:
    ids = [t for t, label in zip(example.input_ids, example.labels, strict=True) if label != IGNORE]
    return tokenizer.decode(ids)


def test_segments_rebuild_the_rendered_chat():
    for row in CONVERSATIONS:
        pieces = segments(row["messages"])
        assert "".join(text for text, _ in pieces) == render_chat(row["messages"])


def test_mask_keeps_exactly_the_replies_and_their_end_of_turn():
    tokenizer = char_tokenizer()
    messages = CONVERSATIONS[2]["messages"]  # two exchanges
    example = encode(messages, tokenizer, max_length=1024)
    assert tokenizer.decode(list(example.input_ids)) == render_chat(messages)
    replies = [m["content"] for m in messages if m["role"] == "assistant"]
    assert _targets(example, tokenizer) == "".join(r + "<end_of_turn>" for r in replies)
    assert example.labels[0] == IGNORE  # <bos>


def test_mask_with_a_system_turn_excludes_the_system_text():
    tokenizer = char_tokenizer()
    messages = CONVERSATIONS[1]["messages"]
    example = encode(messages, tokenizer, max_length=1024)
    assert _targets(example, tokenizer) == messages[-1]["content"] + "<end_of_turn>"
    assert "Answer in haiku." in tokenizer.decode(list(example.input_ids))


def test_long_conversation_keeps_bos_and_the_last_reply():
    tokenizer = char_tokenizer()
    messages = [
        {"role": "user", "content": "word " * 200},
        {"role": "assistant", "content": "a b c\nd e f\ng h i"},
    ]
    example = encode(messages, tokenizer, max_length=64)
    assert len(example.input_ids) == 64
    assert example.input_ids[0] == tokenizer.bos_token_id
    assert _targets(example, tokenizer) == "a b c\nd e f\ng h i<end_of_turn>"


def test_batches_are_deterministic_cover_every_example_and_resume_mid_epoch():
    tokenizer = char_tokenizer()
    examples = [encode(r["messages"], tokenizer, 1024) for r in CONVERSATIONS] * 5
    first = epoch_batches(examples, 3, seed=7, epoch=0)
    assert first == epoch_batches(examples, 3, seed=7, epoch=0)
    assert sorted(i for b in first for i in b) == list(range(len(examples)))
    stream = micro_batches(examples, 3, seed=7)
    full = [next(stream) for _ in range(12)]
    resumed = micro_batches(examples, 3, seed=7, start=9)
    assert [next(resumed) for _ in range(3)] == full[9:]
