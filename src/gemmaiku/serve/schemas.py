"""Request bodies of the Ollama and OpenAI APIs. Unknown fields are ignored, as both servers do."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


IMAGE_PARTS = ("image_url", "input_image", "image")


class Message(Lenient):
    role: str = Field(pattern="^(system|user|assistant|tool)$")
    content: str = ""
    images: list[Any] = Field(default_factory=list)  # kept so the conversation policy can refuse them

    @model_validator(mode="before")
    @classmethod
    def image_parts(cls, data: Any) -> Any:
        """OpenAI clients send images as content parts; keep them as Ollama's `images`."""
        if isinstance(data, dict) and isinstance(data.get("content"), list):
            parts = [p for p in data["content"] if isinstance(p, dict) and p.get("type") in IMAGE_PARTS]
            if parts:
                data = {**data, "images": [*(data.get("images") or []), *parts]}
        return data

    @field_validator("content", mode="before")
    @classmethod
    def join_parts(cls, value: Any) -> Any:
        """OpenAI clients may send content as a list of parts; keep the text parts."""
        if value is None:
            return ""
        if isinstance(value, list):
            return "".join(
                str(part.get("text", "")) for part in value if isinstance(part, dict) and part.get("type") == "text"
            )
        return value


# -- Ollama ------------------------------------------------------------------------------------
class OllamaChatRequest(Lenient):
    model: str = Field(min_length=1)
    messages: list[Message] = Field(default_factory=list, max_length=1000)
    stream: bool = True
    options: dict[str, Any] | None = None
    format: Any = None
    keep_alive: Any = None
    tools: Any = None  # accepted and ignored: our models do not call tools


class OllamaGenerateRequest(Lenient):
    model: str = Field(min_length=1)
    prompt: str = ""
    system: str | None = None
    template: str | None = None
    raw: bool = False
    stream: bool = True
    options: dict[str, Any] | None = None
    format: Any = None
    keep_alive: Any = None


class ModelRef(Lenient):
    model: str | None = None
    name: str | None = None  # older clients send "name"

    def ref(self) -> str | None:
        return self.model or self.name


class CopyRequest(Lenient):
    source: str = Field(min_length=1)
    destination: str = Field(min_length=1)


class CreateRequest(Lenient):
    model: str | None = None
    name: str | None = None
    from_: str | None = Field(None, alias="from")
    modelfile: str | None = None  # older API: the whole Modelfile as text
    system: str | None = None
    template: str | None = None
    parameters: dict[str, Any] | None = None
    license: str | list[str] | None = None
    messages: list[Message] | None = None
    stream: bool = True


# -- OpenAI ------------------------------------------------------------------------------------
class StreamOptions(Lenient):
    include_usage: bool = False


class OpenAIChatRequest(Lenient):
    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1, max_length=1000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: Any = None

    def ollama_options(self) -> dict[str, Any]:
        """The same request in Ollama option names."""
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        limit = self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens
        values = {
            "temperature": self.temperature, "top_p": self.top_p, "num_predict": limit, "stop": stop,
            "seed": self.seed, "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
        }
        return {key: value for key, value in values.items() if value is not None}
