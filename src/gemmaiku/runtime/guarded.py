"""Guarded generation: sample up to N candidates, return the first valid 5-7-5 haiku (or the
closest one), so the form holds even where the model slips. Each candidate is decoded with the
5-7-5 meter (runtime.meter: lines may end only where their syllables fit) unless ``metered`` is
off; the validator still has the last word.

A :class:`GuardedEngine` has the Engine interface (``stream``, ``generate``, ``options``,
``load``...), so the server, the router and evaluation use it wherever they use an engine. The
final chunk reports ``extra = {"guard": {"attempts": k, "valid": bool, "distance": d}}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gemmaiku.runtime.engine import Chunk, Engine, Result
from gemmaiku.runtime.meter import HAIKU_METER
from gemmaiku.runtime.options import GenerationOptions
from gemmaiku.runtime.prompt import Messages

RETRY_MIN_TEMPERATURE = 0.7  # greedy retries would repeat the same reply


@dataclass
class Candidate:
    result: Result
    valid: bool
    distance: int
    attempt: int


class GuardedEngine:
    def __init__(self, engine: Engine, attempts: int = 4, *, metered: bool = True) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.engine = engine
        self.attempts = attempts
        self.meter = HAIKU_METER if metered else None

    def __getattr__(self, name: str) -> Any:  # options, load, loaded, unload, metadata, render...
        return getattr(self.engine, name)

    def candidates(self, messages: Messages | None, prompt: str | None,
                   options: GenerationOptions, grammar: str | None = None) -> Iterator[Candidate]:
        from gemmaiku.prosody import check_haiku

        for attempt in range(1, self.attempts + 1):
            attempt_options = options if attempt == 1 else retry_options(options, attempt)
            extra = {"meter": self.meter} if self.meter and not grammar else {}
            result = self.engine.generate(messages, prompt=prompt, options=attempt_options, grammar=grammar, **extra)
            verdict = check_haiku(result.text)
            yield Candidate(result, verdict.ok, verdict.distance, attempt)

    def choose(self, messages: Messages | None = None, *, prompt: str | None = None,
               options: GenerationOptions | None = None, grammar: str | None = None) -> tuple[Candidate, int]:
        """The first valid candidate, else the closest; and how many were generated."""
        best: Candidate | None = None
        tried = 0
        for candidate in self.candidates(messages, prompt, options or self.engine.options, grammar):
            tried += 1
            if best is None or candidate.distance < best.distance:
                best = candidate
            if candidate.valid:
                break
        assert best is not None
        return best, tried

    def stream(self, messages: Messages | None = None, *, prompt: str | None = None,
               options: GenerationOptions | None = None, grammar: str | None = None) -> Iterator[Chunk]:
        best, tried = self.choose(messages, prompt=prompt, options=options, grammar=grammar)
        r = best.result
        if r.text:
            yield Chunk(r.text, r.prompt_tokens, r.generated_tokens)
        yield Chunk("", r.prompt_tokens, r.generated_tokens, r.finish_reason, r.load_s, r.prompt_eval_s, r.eval_s,
                    extra={"guard": {"attempts": tried, "valid": best.valid, "distance": best.distance}})

    def generate(self, messages: Messages | None = None, *, prompt: str | None = None,
                 options: GenerationOptions | None = None, grammar: str | None = None) -> Result:
        return self.choose(messages, prompt=prompt, options=options, grammar=grammar)[0].result


def retry_options(options: GenerationOptions, attempt: int) -> GenerationOptions:
    seed = None if options.seed is None or options.seed < 0 else options.seed + attempt - 1
    return options.model_copy(update={
        "seed": seed, "temperature": max(options.temperature, RETRY_MIN_TEMPERATURE),
    })
