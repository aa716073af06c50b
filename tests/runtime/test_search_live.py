"""Search decoding on the real fine-tuned 270M (the README's main job's F16 GGUF)."""

from pathlib import Path

import pytest

from gemmaiku.prosody import assess, check_haiku
from gemmaiku.runtime import Engine, options_from
from gemmaiku.runtime.guarded import GuardedEngine

pytestmark = pytest.mark.slow

PROMPTS = ["Explain how a refrigerator works.", "Write a Python function that reverses a list.",
           "Is the moon made of cheese? Answer yes or no."]
OPTIONS = {"temperature": 0.6, "seed": 7, "num_predict": 96}


@pytest.fixture(scope="module")
def guarded(haiku_gguf: Path):
    engine = Engine(haiku_gguf, options=options_from(OPTIONS), n_threads=1)
    yield GuardedEngine(engine, candidates=4)
    engine.unload()


@pytest.mark.parametrize("prompt", PROMPTS)
def test_search_replies_are_strict_and_each_line_is_the_best_scored_candidate(guarded, prompt):
    messages = [{"role": "user", "content": prompt}]
    result = guarded.generate(messages)
    search = result.extra["search"]
    lines = search["lines"]
    assert check_haiku(result.text).ok, (result.text, search)
    assert [line["line"] for line in lines] == result.text.strip().split("\n")
    for line in lines:
        assert line["path"] in {"search", "widened"}, line  # none fell back on these prompts
        scored = [alt for alt in line["alternatives"] if alt["exact"] and not alt["flags"]]
        assert scored and line["qualified"] >= 1
        chosen = line["logprob"] + line["break_logprob"]
        assert chosen == pytest.approx(max(alt["score"] for alt in scored), abs=1e-3)
        # the break's probability is part of the score, and it is a real (negative) log-probability
        assert line["break_logprob"] < 0 and line["logprob"] < 0
    assert not {"dangling_end", "fragment"} & set(assess(result.text, prompt=prompt).kinds)


def test_a_seeded_search_reproduces(guarded):
    messages = [{"role": "user", "content": PROMPTS[0]}]
    first, second = guarded.generate(messages), guarded.generate(messages)
    assert first.text == second.text
    assert [line["alternatives"] for line in first.extra["search"]["lines"]] == [
        line["alternatives"] for line in second.extra["search"]["lines"]]
