"""Search decoding's choices on a scripted toy model: scoring, filtering, widening and fallbacks.

The toy "language model" gives next-token logits from the text of a sequence; each candidate's
sampler follows a script (a line it wants to write) wherever the meter allows it. The test
recomputes every candidate's score from the toy model and checks the job's choice against it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gemmaiku.runtime.batch import Feed
from gemmaiku.runtime.meter import Meter, VocabInfo
from gemmaiku.runtime.options import GenerationOptions
from gemmaiku.runtime.sampling import derive_seed
from gemmaiku.runtime.search import SearchJob, SearchSettings

WORDS = ["old", "silent", "pond", "the", "frog", "jumps", "in", "splash", "and", "cold", "rain", "a", "leaps",
         "into", "water", "sound", "of", "moon", "light", "on", "snow", "falls", "soft"]
VOCAB = ["<pad>", "<end_of_turn>", "\n", ",\n", ",", "\u2581beau", "tiful"] + ["\u2581" + w for w in WORDS]
ID = {piece.replace("\u2581", ""): i for i, piece in enumerate(VOCAB)}
NEWLINE, END = ID["\n"], ID["<end_of_turn>"]
METER = Meter(VocabInfo.from_pieces(VOCAB, newline_id=NEWLINE, end_ids=[END], end_id=END))
DANGLING = {"the", "and", "a", "of", "in", "on", "into"}
PROMPT = [7, 8, 9]  # any token ids: the toy model ignores the prompt


def text_of(tokens: list[int]) -> str:
    return "".join(VOCAB[t] for t in tokens).replace("\u2581", " ").replace("\n ", "\n").lstrip()


def toy_logits(text: str) -> np.ndarray:
    """Breaks are likely after nouns, unlikely after closed-class words; "pond" likes to follow "silent"."""
    logits = np.full(len(VOCAB), -3.0, dtype=np.float32)
    last = text.split()[-1].strip(",") if text.split() else ""
    for token in (NEWLINE, ID[",\n"], END):
        logits[token] = -9.0 if last in DANGLING else 1.5
    if last == "silent":
        logits[ID["pond"]] = 2.0
    return logits


class ToyRuntime:
    def __init__(self) -> None:
        self.sequences: dict[int, list[int]] = {}

    def piece(self, token: int) -> bytes:
        return VOCAB[token].replace("\u2581", " ").encode() if token != END else b""

    def is_end(self, token: int) -> bool:
        return token == END


class ToyKV:
    def __init__(self, runtime: ToyRuntime) -> None:
        self.runtime = runtime

    def copy(self, source: int, target: int) -> None:
        self.runtime.sequences[target] = list(self.runtime.sequences.get(source, []))

    def clear(self, seq: int) -> None:
        self.runtime.sequences[seq] = []

    def truncate(self, seq: int, pos: int) -> None:
        del self.runtime.sequences[seq][pos:]


class ToyStep:
    def __init__(self, runtime: ToyRuntime, feeds: list[Feed]) -> None:
        self.rows: dict[int, np.ndarray] = {}
        for feed in feeds:
            tokens = runtime.sequences.setdefault(feed.seq, [])
            assert feed.pos == len(tokens), "a token fed at the wrong position"
            tokens.append(feed.token)
            if feed.logits:
                self.rows[feed.seq] = toy_logits(text_of(tokens[len(PROMPT):]))

    def has(self, seq: int) -> bool:
        return seq in self.rows

    def logits(self, seq: int) -> np.ndarray:
        return self.rows[seq]

    def sample(self, seq: int, sampler: ScriptedSampler) -> int:
        return sampler.draw(self.rows[seq])


class ScriptedSampler:
    """Writes its script's next word when the meter allows it, else the best allowed token."""

    def __init__(self, script: list[str]) -> None:
        self.script = [ID[w] for w in script]
        self.accepted: list[int] = []

    def accept(self, token: int) -> None:
        self.accepted.append(token)

    def draw(self, logits: np.ndarray) -> int:
        if self.script and np.isfinite(logits[self.script[0]]):
            return self.script.pop(0)
        self.script = []
        return int(np.argmax(logits))


def run(scripts: dict[tuple[int, int, int], list[str]], settings: SearchSettings) -> SearchJob:
    """Drive a search job to the end; ``scripts[(line, round, k)]`` is candidate k's script."""
    runtime = ToyRuntime()
    options = GenerationOptions(temperature=0.6, seed=5, repeat_penalty=1.0)
    seeds = {derive_seed(5, *key): script for key, script in scripts.items()}

    def new_sampler(options: GenerationOptions, seed: int, temperature: float, history) -> ScriptedSampler:
        sampler = ScriptedSampler(list(seeds.get(seed, [])))
        sampler.accepted = list(history)
        return sampler

    def flags(before: list[str], line: str, last: bool) -> list[str]:
        return ["dangling_end"] if line.split()[-1].strip(",") in DANGLING else []

    job = SearchJob(runtime, PROMPT, options, settings, flags, meter=METER, new_sampler=new_sampler)
    job.begin(list(range(settings.sequences)), ToyKV(runtime))
    for _ in range(500):
        if job.finished:
            break
        job.advance(ToyStep(runtime, job.feeds(64)))
    assert job.finished
    return job


def chunks(job: SearchJob) -> list:
    items = []
    while not job.out.empty():
        items.append(job.out.get())
    return items


def score(line_words: list[str], prefix: str, last: bool) -> float:
    """The toy model's log-probability of a line's words plus its break, after ``prefix``."""
    text, total = prefix, 0.0
    for word in [*line_words, "<end_of_turn>" if last else "\n"]:
        logits = toy_logits(text.split("\n")[-1] if text else "")
        token = ID[word]
        total += float(logits[token]) - math.log(float(np.exp(logits.astype(np.float64)).sum()))
        text += ("" if word in ("\n", "<end_of_turn>") else " " + word)
    return total


LINE2 = ["cold", "rain", "falls", "on", "the", "old", "pond"]  # 7
LINE3 = ["soft", "moon", "light", "on", "snow"]  # 5
TAIL = {(1, 0, k): LINE2 for k in range(4)} | {(2, 0, k): LINE3 for k in range(4)}


def test_each_line_is_the_best_scored_qualified_candidate_and_dangling_lines_lose():
    dangling = ["old", "silent", "pond", "and"]  # 5 syllables, ends on "and"
    plain = ["old", "silent", "pond", "frog"]
    other = ["the", "frog", "leaps", "in", "rain"]
    job = run({(0, 0, 0): dangling, (0, 0, 1): plain, (0, 0, 2): other, (0, 0, 3): other} | TAIL,
              SearchSettings(candidates=4, widen_candidates=8))
    reply = "".join(c.text for c in chunks(job))
    first = job.report[0]
    assert reply.split("\n")[0] == first["line"]
    alternatives = {a["line"]: a for a in first["alternatives"]}
    assert alternatives["old silent pond and,"]["flags"] == ["dangling_end"]  # "," then a forced break
    expected = max([plain, other], key=lambda words: score(words, "", False))
    assert first["line"] == " ".join(expected)
    assert first["path"] == "search" and first["qualified"] == 3 and first["candidates"] == 4
    assert math.isclose(first["logprob"] + first["break_logprob"], score(expected, "", False), abs_tol=1e-3)
    assert reply == f"{first['line']}\n{' '.join(LINE2)}\n{' '.join(LINE3)}"
    assert [line["path"] for line in job.report] == ["search"] * 3


def test_no_qualified_candidate_widens_then_falls_back_to_the_best_metered_line():
    dangling_a = ["old", "silent", "pond", "and"]
    dangling_b = ["cold", "rain", "falls", "on", "the"]
    widened = {(0, 1, k): ["the", "frog", "leaps", "in", "the"] for k in range(8)}
    job = run({(0, 0, 0): dangling_a, (0, 0, 1): dangling_b, (0, 0, 2): dangling_a, (0, 0, 3): dangling_a}
              | widened | TAIL, SearchSettings(candidates=4, widen_candidates=8))
    first = job.report[0]
    assert first["round"] == 1 and first["candidates"] == 12 and first["qualified"] == 0
    assert first["path"] == "meter"  # every exact line dangles: the best-scored one is kept
    assert all(a["flags"] for a in first["alternatives"] if a["exact"])
    best = max((a for a in first["alternatives"] if a["exact"]), key=lambda a: a["score"])
    assert first["line"] == best["line"]
    assert chunks(job)[-1].extra["search"]["path"] == "meter"


def test_a_widened_round_that_finds_a_clean_line_is_reported_as_widened():
    dangling = ["old", "silent", "pond", "and"]
    widened = {(0, 1, k): ["the", "frog", "leaps", "in", "rain"] for k in range(8)}
    job = run({(0, 0, k): dangling for k in range(4)} | widened | TAIL,
              SearchSettings(candidates=4, widen_candidates=8))
    assert job.report[0]["path"] == "widened" and job.report[0]["line"] == "the frog leaps in rain"
    assert chunks(job)[-1].extra["search"]["path"] == "widened"


def test_lines_that_overshoot_fail_and_the_closest_one_is_broken_by_force():
    overshoot = ["old", "silent", "beau", "tiful"]  # 1 + 2 + 3 (beau+tiful): 6 of 5
    job = run({(0, r, k): overshoot for r in range(2) for k in range(8)} | TAIL,
              SearchSettings(candidates=4, widen_candidates=8))
    first = job.report[0]
    assert first["path"] == "closest" and all(a["failed"] == "overshoot" for a in first["alternatives"])
    reply = "".join(c.text for c in chunks(job))
    assert reply.split("\n")[0] == "old silent beautiful"
    assert len(reply.split("\n")) == 3  # the search goes on after a forced break


def test_candidates_replay_the_chosen_history_and_the_final_chunk_reports_totals():
    job = run({(0, 0, k): ["the", "frog", "leaps", "in", "rain"] for k in range(2)} | TAIL,
              SearchSettings(candidates=2, widen_candidates=0))
    last = chunks(job)[-1]
    summary = last.extra["search"]
    assert last.finish_reason == "stop" and summary["path"] == "search"
    assert summary["candidates"] == 6 and len(summary["lines"]) == 3
    assert summary["decoded_tokens"] == 2 * ((5 + 1) + (7 + 1) + (5 + 1))  # two candidates a line, breaks too
    assert last.generated_tokens == len(job.history) == 5 + 1 + 7 + 1 + 5 + 1


@pytest.mark.parametrize("words", [["the", "frog", "leaps", "in", "rain"]])
def test_every_token_is_fed_once_at_its_own_position(words):
    job = run({(0, 0, k): words for k in range(4)} | TAIL, SearchSettings(candidates=4, widen_candidates=8))
    assert job.finished  # ToyStep asserts positions: no gap, no overwrite


def test_the_real_quality_filter_judges_a_line_with_the_lines_before_it():
    from gemmaiku.runtime.search import quality_filter

    flags = quality_filter("Write a Python function for Fibonacci numbers", "Answer in haiku.")
    assert "dangling_end" in flags([], "the river and the", False)
    assert "meta_talk" in flags([], "Three lines of five, then", False)
    assert "repeated_line" in flags(["cold rain on the pond"], "cold rain on the pond", False)
    assert "echo" in flags([], "a Python function for Fibonacci numbers", False)
    assert flags(["cold rain on the pond"], "a frog waits for spring to come", False) == []
    assert "dangling_end" in flags(["I count three"], "hearts beating in the dark", False)  # "three / hearts"
