"""Tokenization, the loss mask (only assistant replies, with <end_of_turn>), context cuts, packing."""

from __future__ import annotations

from train_helpers import CONVERSATIONS, char_tokenizer

from gemmaiku.chat import render_chat
from gemmaiku.train.dataset import (
    IGNORE,
    encode,
    epoch_batches,
    make_batch,
    micro_batches,
    pack_rows,
    segments,
)


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


def test_max_context_keeps_bos_the_end_of_the_prompt_and_the_whole_reply():
    tokenizer = char_tokenizer()
    messages = [
        {"role": "user", "content": "word " * 40 + "THE END"},
        {"role": "assistant", "content": "a b c\nd e f\ng h i"},
    ]
    whole = encode(messages, tokenizer, max_length=1024)
    cut = encode(messages, tokenizer, max_length=1024, max_context=20)
    reply = "a b c\nd e f\ng h i<end_of_turn>"
    assert _targets(cut, tokenizer) == _targets(whole, tokenizer) == reply
    context = len(cut.input_ids) - cut.targets - 1  # tokens before the reply (+1: the last one)
    assert context == 20 and cut.input_ids[0] == tokenizer.bos_token_id
    prompt_end = tokenizer.decode(list(cut.input_ids[1:20]))
    assert "THE END" in prompt_end and prompt_end.endswith("<start_of_turn>model\n")
    assert tokenizer.decode(list(whole.input_ids)).endswith(
        tokenizer.decode(list(cut.input_ids[1:]))
    )
    assert encode(messages, tokenizer, 1024, max_context=10**6) == whole  # nothing to cut


def test_pack_rows_first_fit_decreasing_within_the_width():
    lengths = [50, 30, 70, 20, 90, 10, 120]
    rows = pack_rows(lengths, width=100)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert [sum(lengths[i] for i in row) for row in rows] == [120, 100, 100, 70]
    assert rows[0] == [6]  # longer than the width: a row of its own
    assert pack_rows(lengths, width=100) == rows  # deterministic


def test_packed_batch_restarts_positions_and_keeps_every_label_in_place():
    import torch

    tokenizer = char_tokenizer()
    examples = [encode(r["messages"], tokenizer, 1024) for r in CONVERSATIONS]
    width = max(len(e.input_ids) for e in examples) + 60
    batch = make_batch(examples, tokenizer.pad_token_id, pack_width=width, multiple=8)
    assert batch.attention_mask is None and batch.input_ids.shape[1] % 8 == 0
    assert batch.input_ids.shape[0] < len(examples)  # some conversations share a row
    rows = pack_rows([len(e.input_ids) for e in examples], width)
    for row, members in enumerate(rows):
        start = 0
        for index in members:
            example, end = examples[index], start + len(examples[index].input_ids)
            assert batch.input_ids[row, start:end].tolist() == list(example.input_ids)
            assert batch.labels[row, start:end].tolist() == list(example.labels)
            assert batch.position_ids[row, start:end].tolist() == list(range(end - start))
            start = end
        assert (batch.labels[row, start:] == IGNORE).all()
        assert batch.position_ids[row, start:].tolist() == list(
            range(len(batch.labels[row]) - start)
        )
    assert int((batch.labels != IGNORE).sum()) == sum(
        len([x for x in e.labels if x != IGNORE]) for e in examples
    )
    padded = make_batch(examples, tokenizer.pad_token_id)
    assert padded.position_ids is None and torch.equal(
        padded.attention_mask.sum(1), torch.tensor([len(e.input_ids) for e in examples])
    )
