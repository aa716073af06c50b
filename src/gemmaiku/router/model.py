"""The router as a served virtual model: classify the conversation, forward to a served model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from gemmaiku.router.linear import Decision, LinearRouter
from gemmaiku.router.policy import HAIKU, PROSE, RouteDecision, is_background_task, routing_text
from gemmaiku.router.tasks import task_output

SHIPPED_ROUTER = Path(str(resources.files("gemmaiku.router") / "shipped"))  # package data


@lru_cache(maxsize=4)
def load_router(folder: Path = SHIPPED_ROUTER) -> LinearRouter:
    return LinearRouter.load(folder)


def decide(text: str, router: LinearRouter | None = None) -> tuple[Decision, str]:
    """(decision, why): the background-task rule first, then the model."""
    if is_background_task(text):
        return Decision(PROSE, 1.0), "rule:background-task"
    return (router or load_router()).decide(text), "model"


@dataclass
class RouterModel:
    """A served name (e.g. `gemmaiku-router`) that forwards each request to one of two models."""

    targets: Mapping[str, str]  # {"haiku": "gemmaiku", "prose": "smollm2"}
    name: str = "gemmaiku-router"
    family: str = "router"
    router: LinearRouter = field(default_factory=load_router)

    def choose(self, messages: Sequence[Mapping[str, str]]) -> RouteDecision:
        text = routing_text(messages)
        decision, why = decide(text, self.router)
        structured = task_output(text) if why == "rule:background-task" else None
        return RouteDecision(self.targets[decision.label], decision.label, decision.confidence,
                             grammar=structured.grammar if structured else None,
                             options=structured.options if structured else {})


__all__ = ["HAIKU", "PROSE", "RouterModel", "decide", "load_router"]
