from collections.abc import Iterator

from gemmaiku.runtime import Chunk, GenerationOptions, Result
from gemmaiku.runtime.guarded import GuardedEngine

VALID = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again"
CHATTY = "Sure! Here is a haiku:\n" + VALID
CLOSE = "An old pond\nA frog jumps into the pond\nSplash! Silence again"  # 3-7-5


class ScriptedEngine:
    """Replies with the next scripted text on each call, recording the options it was given."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.options = GenerationOptions(temperature=0.0, seed=11)
        self.calls: list[GenerationOptions] = []
        self.meters: list = []

    def generate(self, messages=None, *, prompt=None, options=None, grammar=None, meter=None) -> Result:
        self.calls.append(options)
        self.meters.append(meter)
        text = self.replies[min(len(self.calls), len(self.replies)) - 1]
        return Result(text, 5, len(text.split()), "stop", 0.0, 0.01, 0.02)


def run(engine: GuardedEngine) -> tuple[str, Chunk]:
    chunks: Iterator[Chunk] = engine.stream([{"role": "user", "content": "hi"}])
    collected = list(chunks)
    return "".join(c.text for c in collected), collected[-1]


def test_first_valid_candidate_is_returned_and_attempts_reported():
    scripted = ScriptedEngine([CHATTY, CLOSE, VALID, CHATTY])
    text, last = run(GuardedEngine(scripted, attempts=4))
    assert text == VALID
    assert last.extra["guard"] == {"attempts": 3, "valid": True, "distance": 0}
    assert len(scripted.calls) == 3


def test_when_none_is_valid_the_closest_is_returned():
    scripted = ScriptedEngine([CHATTY, CLOSE, "just prose, no form at all"])
    text, last = run(GuardedEngine(scripted, attempts=3))
    assert text == CLOSE
    assert last.extra["guard"]["valid"] is False and last.extra["guard"]["attempts"] == 3


def test_retries_change_seed_and_leave_greedy():
    scripted = ScriptedEngine([CHATTY, VALID])
    run(GuardedEngine(scripted, attempts=2))
    first, second = scripted.calls
    assert first.temperature == 0.0 and first.seed == 11
    assert second.temperature >= 0.7 and second.seed == 12


def test_a_valid_first_reply_costs_one_generation():
    scripted = ScriptedEngine([VALID])
    text, last = run(GuardedEngine(scripted, attempts=5))
    assert text == VALID and last.extra["guard"]["attempts"] == 1 and len(scripted.calls) == 1


def test_candidates_are_metered_unless_turned_off():
    scripted = ScriptedEngine([VALID])
    run(GuardedEngine(scripted, attempts=2))
    assert scripted.meters == [(5, 7, 5)]
    plain = ScriptedEngine([VALID])
    run(GuardedEngine(plain, attempts=2, metered=False))
    assert plain.meters == [None]
