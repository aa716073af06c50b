"""Conversations -> token ids + labels (assistant tokens only) -> length-bucketed batches.

The text is ``gemmaiku.chat.render_chat``'s, tokenized segment by segment: everything up to and
including ``<start_of_turn>model\\n`` is context (label -100); each reply's content plus its
``<end_of_turn>`` is a target. Tokenizing the context separately matches generation exactly,
where the prompt ends at ``<start_of_turn>model\\n`` and the model produces the rest.

A micro-batch becomes one :class:`Batch`: right-padded rows (one conversation per row), or packed
rows (several conversations per row, positions restarting at 0 for each; transformers reads
restarting ``position_ids`` with no ``attention_mask`` as packed sequences and builds a
block-diagonal causal mask, so no conversation sees another and RoPE and the sliding window see
the same positions as unpacked).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemmaiku.chat import END_OF_TURN, render_chat
from gemmaiku.errors import GemmaikuError

IGNORE = -100
BUCKET_FACTOR = 32  # batches per sorting window: bigger pads less, shuffles less


@dataclass(frozen=True)
class Example:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]

    @property
    def targets(self) -> int:
        """How many tokens carry loss (labels are not yet shifted; position 0 never does)."""
        return sum(label != IGNORE for label in self.labels[1:])


def segments(messages: Sequence[Mapping[str, str]]) -> list[tuple[str, bool]]:
    """The rendered chat as (text, is_target) pieces whose concatenation is ``render_chat``'s."""
    pieces: list[tuple[str, bool]] = []
    context = ""
    offset = 1 if messages and messages[0].get("role") == "system" else 0
    for index in range(offset, len(messages)):
        if messages[index].get("role") != "assistant":
            continue
        prefix = render_chat(messages[:index], add_generation_prompt=True)
        reply = str(messages[index]["content"]).strip() + END_OF_TURN
        pieces.append((prefix[len(context) :], False))
        pieces.append((reply, True))
        context = prefix + reply
    full = render_chat(messages)
    if not full.startswith(context):  # guards the invariant the mask relies on
        raise GemmaikuError("chat rendering is not prefix-stable; cannot mask assistant turns")
    if full[len(context) :]:
        pieces.append((full[len(context) :], False))
    return pieces


def encode(
    messages: Sequence[Mapping[str, str]],
    tokenizer,
    max_length: int,
    max_context: int | None = None,
) -> Example | None:
    """Token ids and labels of one conversation.

    ``max_context`` caps the tokens before the final reply (<bos> included): the oldest are cut,
    keeping <bos> and the end of the prompt. Then a conversation longer than ``max_length`` keeps
    <bos> and its last tokens. The final reply is never cut. Returns None when no target token
    fits (cannot happen for a haiku, but a corpus may lie).
    """
    ids: list[int] = []
    labels: list[int] = []
    reply_start = 0  # where the final reply's tokens begin
    for text, is_target in segments(messages):
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        if is_target:
            reply_start = len(ids)
        ids.extend(piece)
        labels.extend(piece if is_target else [IGNORE] * len(piece))
    if max_context and reply_start > max_context:  # keep <bos> + the prompt's last tokens
        cut = reply_start - max_context + 1
        ids, labels = ids[:1] + ids[cut:], [IGNORE] + labels[cut:]
    if len(ids) > max_length:  # keep <bos>, cut the oldest context, never the final reply
        ids = ids[:1] + ids[len(ids) - max_length + 1 :]
        labels = [IGNORE] + labels[len(labels) - max_length + 1 :]
    example = Example(tuple(ids), tuple(labels))
    return example if example.targets else None


def read_split(path: Path) -> list[list[dict[str, str]]]:
    if not path.is_file():
        raise GemmaikuError(
            f"missing {path} (run `gemmaiku data build`, or give --data a folder with {path.name})"
        )
    conversations = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                conversations.append(json.loads(line)["messages"])
            except (ValueError, KeyError, TypeError):
                raise GemmaikuError(
                    f"{path}:{number}: not a chat line (check it with `gemmaiku data check {path}`)"
                ) from None
    if not conversations:
        raise GemmaikuError(f"{path} is empty (it needs at least one conversation)")
    return conversations


def load_examples(
    path: Path, tokenizer, max_length: int, max_context: int | None = None
) -> tuple[list[Example], int]:
    """Encoded examples of a split file and how many were skipped (no target token fitted)."""
    encoded = [encode(m, tokenizer, max_length, max_context) for m in read_split(path)]
    kept = [example for example in encoded if example is not None]
    return kept, len(encoded) - len(kept)


def epoch_batches(
    examples: Sequence[Example], batch_size: int, seed: int, epoch: int
) -> list[list[int]]:
    """Indices of one epoch's batches: shuffled, then sorted by length inside windows of
    ``BUCKET_FACTOR`` batches (less padding), then the batch order shuffled again.
    Depends only on (seed, epoch), so a resumed run sees the same batches."""
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(examples)))
    rng.shuffle(order)
    window = batch_size * BUCKET_FACTOR
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: len(examples[i].input_ids))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def micro_batches(
    examples: Sequence[Example], batch_size: int, seed: int, start: int = 0
) -> Iterator[tuple[int, list[int]]]:
    """Endless (epoch, indices) stream, skipping the first ``start`` micro-batches (for resume)."""
    epoch = 0
    while True:
        batches = epoch_batches(examples, batch_size, seed, epoch)
        for batch in batches[start:]:
            yield epoch, batch
        start = max(0, start - len(batches))
        epoch += 1


def collate(examples: Sequence[Example], pad_id: int, multiple: int = 1):
    """Right-padded (input_ids, attention_mask, labels) tensors, width rounded up to ``multiple``."""
    import torch

    width = _round_up(max(len(e.input_ids) for e in examples), multiple)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(example.labels)
    return ids, mask, labels


@dataclass
class Batch:
    """The tensors of one micro-batch; ``attention_mask`` is None for packed rows."""

    input_ids: Any  # (B, T)
    labels: Any  # (B, T), IGNORE where no loss is taken
    attention_mask: Any = None  # (B, T) 1 for tokens, 0 for padding
    position_ids: Any = None  # (B, T), restarting at 0 for each packed conversation

    def to(self, device: str) -> Batch:
        move = [None if t is None else t.to(device) for t in vars(self).values()]
        return Batch(*move)

    def args(self) -> tuple:
        """Positional arguments of the loss functions in ``gemmaiku.train.loss``."""
        return self.input_ids, self.attention_mask, self.labels, self.position_ids


def pack_rows(lengths: Sequence[int], width: int) -> list[list[int]]:
    """Indices into ``lengths`` grouped into rows of at most ``width`` tokens (first-fit
    decreasing, deterministic). An item longer than ``width`` gets a row of its own."""
    rows: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        for row, free in enumerate(room):
            if lengths[index] <= free:
                rows[row].append(index)
                room[row] -= lengths[index]
                break
        else:
            rows.append([index])
            room.append(width - lengths[index])
    return rows


def make_batch(
    examples: Sequence[Example], pad_id: int, pack_width: int | None = None, multiple: int = 1
) -> Batch:
    """One micro-batch: padded rows, or packed into rows of at most ``pack_width`` tokens."""
    if not pack_width:
        ids, mask, labels = collate(examples, pad_id, multiple)
        return Batch(ids, labels, attention_mask=mask)
    import torch

    rows = pack_rows([len(e.input_ids) for e in examples], pack_width)
    used = [sum(len(examples[i].input_ids) for i in row) for row in rows]
    width = _round_up(max(used), multiple)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    for row, members in enumerate(rows):
        start = 0
        for index in members:
            example = examples[index]
            end = start + len(example.input_ids)
            ids[row, start:end] = torch.tensor(example.input_ids)
            labels[row, start:end] = torch.tensor(example.labels)  # labels[0] is IGNORE: <bos>
            positions[row, start:end] = torch.arange(end - start)
            start = end
        positions[row, start:] = torch.arange(width - start)  # padding: a sequence of its own
    return Batch(ids, labels, position_ids=positions)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
