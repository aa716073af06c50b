"""What goes where. The policy the router model is trained to follow, and the one rule it keeps.

Haiku: requests whose value is mood, imagery or a short reflection: poems and haiku, greetings
and small talk, feelings, descriptions, open creative prompts.

Prose: requests whose value is exact content: code, math, facts and how-tos, translation,
structured output (JSON, tables, lists), summaries or rewrites of given text, long documents,
and chat front-ends' background tasks (title, tags and follow-up generation), so a haiku model
never has to title a chat.

The background tasks are recognised by a rule as well as by the model: Open WebUI sends them as
one user message built from a fixed template ("### Task:" ... "<chat_history>"), and a wrong
route there breaks the UI (a haiku where JSON was expected), so the rule guarantees it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

HAIKU, PROSE = "haiku", "prose"


@dataclass(frozen=True)
class RouteDecision:
    """Which served model a router chose, told to the client in a header and the final chunk;
    optionally a grammar (runtime.grammar.Grammar) and option overrides for a structured reply."""

    target: str
    route: str
    confidence: float
    grammar: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"route": self.route, "model": self.target, "confidence": round(self.confidence, 4)}

BACKGROUND_TASK = re.compile(
    r"###\s*Task:.*?(<chat_history>|###\s*Chat History|<conversation>)", re.IGNORECASE | re.DOTALL
)


def is_background_task(text: str) -> bool:
    return bool(BACKGROUND_TASK.search(text[:20000]))


def routing_text(messages: Sequence[Mapping[str, str]]) -> str:
    """The text a decision is made on: the latest user message."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""
