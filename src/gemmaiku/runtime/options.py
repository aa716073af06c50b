"""Generation options: Ollama's names, bounds that double as API docs, one table to llama.cpp."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gemmaiku.errors import GemmaikuError


class GenerationOptions(BaseModel):
    """Sampling options, named as in Ollama's API (`options` in /api/chat) and Modelfiles.

    Defaults follow Ollama's. Unknown names are ignored, as Ollama does.
    """

    model_config = ConfigDict(extra="ignore")

    temperature: float = Field(0.8, ge=0.0, le=5.0)
    top_k: int = Field(40, ge=0, le=100_000)
    top_p: float = Field(0.9, ge=0.0, le=1.0)
    min_p: float = Field(0.0, ge=0.0, le=1.0)
    typical_p: float = Field(1.0, ge=0.0, le=1.0)
    repeat_penalty: float = Field(1.1, ge=0.0, le=10.0)
    repeat_last_n: int = Field(64, ge=-1, le=1_000_000)
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    mirostat: int = Field(0, ge=0, le=2)
    mirostat_tau: float = Field(5.0, ge=0.0)
    mirostat_eta: float = Field(0.1, ge=0.0)
    seed: int | None = Field(None, ge=-1, le=2**32 - 1)
    stop: list[str] = Field(default_factory=list, max_length=16)
    num_predict: int = Field(-1, ge=-2, le=1_000_000, description="-1: until a stop, -2: fill the context")
    num_ctx: int = Field(2048, ge=16, le=1_048_576)

    def merged(self, overrides: dict[str, Any] | None) -> GenerationOptions:
        """These options with ``overrides`` (e.g. a request's `options`) applied on top."""
        if not overrides:
            return self
        return options_from(overrides, base=self)


# Ollama option name -> keyword of llama_cpp.Llama.generate. Options missing here (num_ctx,
# repeat_last_n, seed, stop, num_predict) are handled by the engine itself.
LLAMA_SAMPLER_ARGS: dict[str, str] = {
    "temperature": "temp",
    "top_k": "top_k",
    "top_p": "top_p",
    "min_p": "min_p",
    "typical_p": "typical_p",
    "repeat_penalty": "repeat_penalty",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "mirostat": "mirostat_mode",
    "mirostat_tau": "mirostat_tau",
    "mirostat_eta": "mirostat_eta",
}


def options_from(values: dict[str, Any], base: GenerationOptions | None = None) -> GenerationOptions:
    """Validate ``values`` (Ollama names) on top of ``base``; a bad value is one clear error."""
    data = (base or GenerationOptions()).model_dump()
    for key, value in values.items():
        if value is None or key not in GenerationOptions.model_fields:
            continue
        if key == "stop" and isinstance(value, str):
            value = [value]
        data[key] = value
    try:
        return GenerationOptions.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise GemmaikuError(f"bad option {field}: {first['msg']}") from None


def sampler_kwargs(options: GenerationOptions) -> dict[str, Any]:
    """Keyword arguments for llama_cpp.Llama.generate from ``options``."""
    return {target: getattr(options, name) for name, target in LLAMA_SAMPLER_ARGS.items()}
