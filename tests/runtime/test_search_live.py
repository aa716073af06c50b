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


def test_search_replies_are_strict_and_each_line_is_the_best_scored_candidate(guarded):
    searched = 0
    for prompt in PROMPTS:
        result = guarded.generate([{"role": "user", "content": prompt}])
        search = result.extra["search"]
        lines = search["lines"]
        assert check_haiku(result.text).ok, (result.text, search)
        assert [line["line"] for line in lines] == result.text.strip().split("\n")
        for line in lines:
            # the break's probability is part of the score, and it is a real (negative) log-probability
            assert line["break_logprob"] < 0 and line["logprob"] < 0
            chosen = line["logprob"] + line["break_logprob"]
            if line["path"] in {"search", "widened"}:  # the best of the candidates that qualified
                searched += 1
                pool = [alt for alt in line["alternatives"] if alt["exact"] and not alt["flags"]]
                assert pool and line["qualified"] >= 1
            elif line["path"] == "meter":  # none qualified: the best of those with the exact count
                pool = [alt for alt in line["alternatives"] if alt["exact"]]
            else:  # "closest": no candidate had the count; the nearest one was cut to fit
                continue
            assert chosen == pytest.approx(max(alt["score"] for alt in pool), abs=1e-3), line
        if all(line["path"] in {"search", "widened"} for line in lines):
            assert not {"dangling_end", "fragment"} & set(assess(result.text, prompt=prompt).kinds)
    assert searched >= 2 * len(PROMPTS), "search should choose most lines without falling back"


def test_a_seeded_search_reproduces(guarded):
    messages = [{"role": "user", "content": PROMPTS[0]}]
    first, second = guarded.generate(messages), guarded.generate(messages)
    assert first.text == second.text
    assert [line["alternatives"] for line in first.extra["search"]["lines"]] == [
        line["alternatives"] for line in second.extra["search"]["lines"]]
