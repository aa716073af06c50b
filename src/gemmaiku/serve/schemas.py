"""Request bodies of the Ollama and OpenAI APIs.

Unknown fields are ignored, as both servers do; known fields are typed strictly (``stream:
"yes"`` or ``max_tokens: 0`` is a 400, not a guess). Fields the server cannot honour are listed
in each request's ``UNSUPPORTED`` table (field -> the values that ask for nothing, and why
anything else is refused) and refused with a 400 by :func:`refuse_unsupported`, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from gemmaiku.errors import GemmaikuError

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MODEL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9._-]*)?")


def _no_control(value: str) -> str:
    if CONTROL.search(value):
        raise ValueError("contains a control character (a name or path is one line of text)")
    return value


def _model_name(value: str) -> str:
    if len(value) > 256 or not MODEL_NAME.fullmatch(value):
        raise ValueError("must be a model name such as 'poet' or 'poet:v2' (letters, digits, . _ - /)")
    return value


Text = Annotated[str, AfterValidator(_no_control)]  # names and paths
NewName = Annotated[str, AfterValidator(_model_name)]  # the name of a model being made
Unsupported = Mapping[str, tuple[tuple[Any, ...], str]]
NOTHING: tuple[Any, ...] = (None, False, "", [], {})


def refuse_unsupported(body: BaseModel) -> None:
    """Raise a 400 for the first field that asks for something this server cannot do."""
    table: Unsupported = getattr(body, "UNSUPPORTED", {})
    for name, (neutral, reason) in table.items():
        value = getattr(body, name, None)
        if not any(value is n or (type(value) is type(n) and value == n) for n in neutral):
            raise GemmaikuError(f"{name}: {reason}")


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
    model: Text = Field(min_length=1)
    messages: list[Message] = Field(default_factory=list, max_length=1000)
    stream: StrictBool = True
    options: dict[str, Any] | None = None
    format: Any = None
    keep_alive: Any = None
    tools: list[Any] | None = None  # offered to the model; see ollama_api.tool_headers
    think: Any = None

    UNSUPPORTED: ClassVar[Unsupported] = {
        "think": (NOTHING, "the model does not think aloud (send false or leave it out)"),
    }


class OllamaGenerateRequest(Lenient):
    model: Text = Field(min_length=1)
    prompt: str = ""
    system: str | None = None
    template: str | None = None
    raw: StrictBool = False
    stream: StrictBool = True
    options: dict[str, Any] | None = None
    format: Any = None
    keep_alive: Any = None
    think: Any = None
    suffix: Any = None
    images: Any = None
    context: Any = None

    UNSUPPORTED: ClassVar[Unsupported] = {
        "think": (NOTHING, "the model does not think aloud (send false or leave it out)"),
        "suffix": (NOTHING, "fill-in-the-middle is not supported (send the prompt alone)"),
        "images": (NOTHING, "this model reads text only (send the text alone)"),
        "context": (NOTHING, "token contexts are not kept between requests (send the conversation to "
                             "/api/chat as messages)"),
    }


class ModelRef(Lenient):
    model: Text | None = None
    name: Text | None = None  # older clients send "name"

    def ref(self) -> str | None:
        return self.model or self.name


class CopyRequest(Lenient):
    source: Text = Field(min_length=1)
    destination: NewName


class CreateRequest(Lenient):
    model: NewName | None = None
    name: NewName | None = None
    from_: Text | None = Field(None, alias="from")
    modelfile: str | None = None  # older API: the whole Modelfile as text
    system: str | None = None
    template: str | None = None
    parameters: dict[str, Any] | None = None
    license: str | list[str] | None = None
    messages: list[Message] | None = None
    stream: StrictBool = True
    adapters: Any = None
    files: Any = None
    quantize: Any = None

    UNSUPPORTED: ClassVar[Unsupported] = {
        "adapters": (NOTHING, "adapters are not applied by gemmaiku serve (merge them first: gemmaiku fuse, "
                              "then gemmaiku export, and create from that GGUF)"),
        "files": (NOTHING, "blobs pushed to the server are not supported (give 'from' a GGUF in the model "
                           "folders)"),
        "quantize": (NOTHING, "quantizing is not done here (quantize with gemmaiku export, then create from "
                              "that GGUF)"),
    }


# -- OpenAI ------------------------------------------------------------------------------------
class StreamOptions(Lenient):
    include_usage: StrictBool = False


class OpenAIChatRequest(Lenient):
    model: Text = Field(min_length=1)
    messages: list[Message] = Field(min_length=1, max_length=1000)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    max_tokens: StrictInt | None = Field(None, ge=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=1)
    stop: str | list[str] | None = Field(None, max_length=16)  # the options table's limit (OpenAI: 4)
    seed: StrictInt | None = None
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    response_format: Any = None
    tools: list[Any] | None = None  # offered to the model; see ollama_api.tool_headers
    tool_choice: Any = None
    n: StrictInt | None = None
    logprobs: Any = None
    top_logprobs: Any = None
    logit_bias: Any = None

    UNSUPPORTED: ClassVar[Unsupported] = {
        "n": ((None, 1), "one choice per request (send n: 1 or leave it out)"),
        "tool_choice": ((None, "auto", "none"), "the model cannot call tools, so it cannot be made to "
                                                "(send \"auto\" or leave it out)"),
        "logprobs": (NOTHING, "log probabilities are not returned (leave logprobs out)"),
        "top_logprobs": ((None,), "log probabilities are not returned (leave top_logprobs out)"),
        "logit_bias": (NOTHING, "logit_bias is not supported (leave it out)"),
    }

    @field_validator("temperature", "top_p", "presence_penalty", "frequency_penalty", mode="before")
    @classmethod
    def a_number(cls, value: Any) -> Any:
        if isinstance(value, bool) or (value is not None and not isinstance(value, int | float)):
            raise ValueError("must be a number")
        return value

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
