"""Generation options for the runtime: the rows of Ollama's option table (:mod:`gemmaiku.options`)
that llama.cpp honours here, as a pydantic model whose bounds double as API docs.

Names, defaults and ranges all come from the table, so the server accepts exactly what the
Modelfile linter accepts. ``options_from`` converts values the way Ollama does (an int option
takes 3.0, ``stop`` takes a string) and remembers which options were set, so a remote model is
sent only those (``options.model_dump(exclude_unset=True)``) and keeps its own defaults.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gemmaiku.errors import GemmaikuError
from gemmaiku.options import INF, OPTIONS, RUNTIME, coerce_option


def option_field(name: str) -> Any:
    """A pydantic Field with the table's default, range and help for option ``name``."""
    option = OPTIONS[name]
    if option.type == "list":
        return Field(default_factory=lambda: list(option.default), max_length=int(option.high),
                     description=option.help)
    bounds: dict[str, float] = {}
    if option.low != -INF:
        bounds["gt" if option.above_low else "ge"] = option.low
    if option.high != INF:
        bounds["le"] = option.high
    return Field(option.default, description=option.help, **bounds)


class GenerationOptions(BaseModel):
    """Sampling options, named as in Ollama's API (`options` in /api/chat) and Modelfiles.

    Unknown names are ignored, as Ollama does.
    """

    model_config = ConfigDict(extra="ignore")

    temperature: float = option_field("temperature")
    top_k: int = option_field("top_k")
    top_p: float = option_field("top_p")
    min_p: float = option_field("min_p")
    typical_p: float = option_field("typical_p")
    repeat_penalty: float = option_field("repeat_penalty")
    repeat_last_n: int = option_field("repeat_last_n")
    presence_penalty: float = option_field("presence_penalty")
    frequency_penalty: float = option_field("frequency_penalty")
    mirostat: int = option_field("mirostat")
    mirostat_tau: float = option_field("mirostat_tau")
    mirostat_eta: float = option_field("mirostat_eta")
    seed: int = option_field("seed")
    stop: list[str] = option_field("stop")
    num_predict: int = option_field("num_predict")
    num_ctx: int = option_field("num_ctx")

    def merged(self, overrides: dict[str, Any] | None) -> GenerationOptions:
        """These options with ``overrides`` (e.g. a request's `options`) applied on top."""
        if not overrides:
            return self
        return options_from(overrides, base=self)


def options_from(values: dict[str, Any], base: GenerationOptions | None = None) -> GenerationOptions:
    """``values`` (Ollama names) on top of ``base``; a bad value is one clear error.

    Unknown names and None values are skipped, as Ollama skips them."""
    data = base.model_dump(exclude_unset=True) if base is not None else {}
    for name, value in values.items():
        if value is None or name not in RUNTIME:
            continue
        value = coerce_option(name, value)
        if problem := OPTIONS[name].check(value):
            raise GemmaikuError(f"bad option {problem}")
        data[name] = value
    return GenerationOptions.model_validate(data)
