"""A scripted target: replies chosen by the prompt's category, so every rate is known in advance."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from gemmaiku.evaluate import targets
from gemmaiku.evaluate.targets import Reply

HAIKU = "Snow on the cedar\nthe kettle starts its low song\nsteam writes on the pane"
PREAMBLE = "Sure! Here is a haiku:\n" + HAIKU
PROSE = ("The Roman Empire rose through conquest and roads and fell through a long mix of overspending, "
         "civil war and pressure on its borders over several centuries.")
SHORT = "Snow on the cedar\nsteam writes on the pane"  # two lines


@dataclass
class ScriptedTarget:
    """Replies by category: haiku_request -> a valid haiku, essay -> prose, code -> preamble +
    haiku, yes_no -> two lines; everything else a valid haiku. Records what it was sent."""

    spec: str = "fake:scripted"
    seen: list = field(default_factory=list)
    closed: bool = False
    script: dict = field(default_factory=lambda: {"essay": PROSE, "code": PREAMBLE, "yes_no": SHORT})

    def generate(self, messages, options):
        self.seen.append({"messages": [dict(m) for m in messages], "options": dict(options)})
        text = messages[-1]["content"]
        reply = HAIKU
        for category, scripted in self.script.items():
            if text.startswith(f"[{category}]"):
                reply = scripted
        return Reply(reply, 12, len(reply.split()), "stop", 0.01, 0.05, 0.04, {})

    def describe(self):
        return {"spec": self.spec, "kind": "fake", "model": "scripted"}

    def close(self):
        self.closed = True


@pytest.fixture
def scripted(monkeypatch):
    """Register the `fake:` target kind; every parse returns the same ScriptedTarget."""
    target = ScriptedTarget()
    monkeypatch.setitem(targets.KINDS, "fake", lambda spec, rest, **kw: target)
    return target


@pytest.fixture
def prompts_file(tmp_path):
    """Three prompts per category (haiku_request, essay, code, yes_no), tagged with the category."""
    import json

    path = tmp_path / "prompts.jsonl"
    lines = [{"id": f"{c}-{i}", "category": c, "prompt": f"[{c}] prompt {i} about the sea"}
             for c in ("haiku_request", "essay", "code", "yes_no") for i in range(3)]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path
