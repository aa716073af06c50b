"""A scripted target: replies chosen by the prompt's category, so every rate is known in advance."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from gemmaiku.evaluate import targets
from gemmaiku.evaluate.targets import Reply, Target
from gemmaiku.runtime import Chunk, GenerationOptions

HAIKU = "Snow on the cedar\nthe kettle starts its low song\nsteam writes on the pane"
PREAMBLE = "Sure! Here is a haiku:\n" + HAIKU
PROSE = ("The Roman Empire rose through conquest and roads and fell through a long mix of overspending, "
         "civil war and pressure on its borders over several centuries.")
SHORT = "Snow on the cedar\nsteam writes on the pane"  # two lines


@dataclass
class ScriptedGenerator:
    """A Generator that replies by category: haiku_request -> a valid haiku, essay -> prose, code
    -> preamble + haiku, yes_no -> two lines; everything else a valid haiku. Records what it was
    sent. ``generate(messages, options)`` makes the scripted Reply; tests replace it to script
    failures, and ``stream`` turns its Reply into chunks."""

    spec: str = "fake:scripted"
    seen: list = field(default_factory=list)
    closed: bool = False
    script: dict = field(default_factory=lambda: {"essay": PROSE, "code": PREAMBLE, "yes_no": SHORT})
    options: GenerationOptions = field(default_factory=GenerationOptions)
    loaded: bool = True

    def generate(self, messages, options):
        self.seen.append({"messages": [dict(m) for m in messages], "options": dict(options)})
        text = messages[-1]["content"]
        reply = HAIKU
        for category, scripted in self.script.items():
            if text.startswith(f"[{category}]"):
                reply = scripted
        return Reply(reply, 12, len(reply.split()), "stop", 0.01, 0.05, 0.04, {})

    def stream(self, messages=None, *, prompt=None, options=None, grammar=None) -> Iterator[Chunk]:
        reply = self.generate(messages, (options or self.options).model_dump(exclude_unset=True))
        yield Chunk(reply.text, reply.prompt_tokens, reply.generated_tokens)
        yield Chunk("", reply.prompt_tokens, reply.generated_tokens, reply.finish_reason, eval_s=reply.eval_s or 0.0,
                    extra=reply.extra or None)

    def load(self) -> float:
        return 0.0

    def unload(self) -> None:
        self.closed = True

    def describe(self):
        return {"kind": "fake", "model": "scripted"}


class FakeGuard:
    """Stands in for the server's guarded generator (runtime.guarded needs a real GGUF): up to
    ``attempts`` replies, the next seed and a temperature of at least 0.7 on each retry, the first
    valid haiku or else the closest; the last chunk says how it went, as ``extra["guard"]``."""

    def __init__(self, generator, attempts: int) -> None:
        self.generator, self.attempts = generator, attempts
        self.options, self.loaded = generator.options, True

    def load(self) -> float:
        return 0.0

    def unload(self) -> None:
        self.generator.unload()

    def stream(self, messages=None, *, prompt=None, options=None, grammar=None) -> Iterator[Chunk]:
        from gemmaiku.prosody import check_haiku
        from gemmaiku.runtime import collect

        options = options or self.options
        best = None
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                seed = None if options.seed < 0 else options.seed + 1
                options = options.model_copy(update={"seed": seed, "temperature": max(options.temperature, 0.7)})
            result = collect(self.generator.stream(messages, options=options))
            verdict = check_haiku(result.text)
            if best is None or verdict.distance < best[0]:
                best = (verdict.distance, result)
            if verdict.ok:
                break
        distance, result = best
        yield Chunk(result.text, result.prompt_tokens, result.generated_tokens)
        yield Chunk("", result.prompt_tokens, result.generated_tokens, result.finish_reason,
                    extra={"guard": {"attempts": attempt, "valid": distance == 0, "distance": distance}})


@pytest.fixture
def scripted(monkeypatch):
    """Register the `fake:` target kind; every parse returns the same ScriptedGenerator, and
    --guard wraps it in a FakeGuard."""
    generator = ScriptedGenerator()
    monkeypatch.setitem(targets.KINDS, "fake", lambda spec, rest, **kw: Target(spec, generator, generator.describe))
    monkeypatch.setattr(targets, "guarded", FakeGuard)
    return generator


@pytest.fixture
def prompts_file(tmp_path):
    """Three prompts per category (haiku_request, essay, code, yes_no), tagged with the category."""
    import json

    path = tmp_path / "prompts.jsonl"
    lines = [{"id": f"{c}-{i}", "category": c, "prompt": f"[{c}] prompt {i} about the sea"}
             for c in ("haiku_request", "essay", "code", "yes_no") for i in range(3)]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path
