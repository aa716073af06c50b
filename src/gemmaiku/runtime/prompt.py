"""Turn a conversation into the exact prompt text a GGUF model sees.

Every format first applies the one conversation policy (:func:`gemmaiku.modelfile.prompt.conversation`:
system prompt first, contents stripped, tool turns dropped, same-role runs merged, images
refused), so a model sees the same conversation whichever path it came by. Three sources for
the text, first match wins (a table of resolvers, not an if-chain at call sites):

1. a template given explicitly (a Modelfile TEMPLATE, Go syntax, rendered by gemmaiku.modelfile);
2. the GGUF's own ``tokenizer.chat_template`` (Jinja, as Hugging Face and llama.cpp render it);
3. Gemmaiku's Gemma turn format (gemmaiku.chat) for ``gemma3`` models without a template,
   such as the bundled base, which has none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from gemmaiku.chat import END_OF_TURN, render_chat
from gemmaiku.errors import GemmaikuError

Messages = Sequence[Mapping[str, str]]


@dataclass(frozen=True)
class PromptFormat:
    """A way to render messages, with the stop strings that end a reply in that format."""

    name: str
    render: Callable[[Messages], str]
    stop: tuple[str, ...] = field(default_factory=tuple)


def policy(messages: Messages) -> list[dict[str, str]]:
    from gemmaiku.modelfile.prompt import conversation

    return conversation(messages)


def gemma_format() -> PromptFormat:
    return PromptFormat(
        "gemma", lambda messages: render_chat(policy(messages), add_generation_prompt=True), (END_OF_TURN,)
    )


def jinja_format(template: str, *, bos: str, eos: str) -> PromptFormat:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(template=template, bos_token=bos, eos_token=eos)

    def render(messages: Messages) -> str:
        turns = policy(messages)
        try:
            return formatter(messages=turns).prompt
        except Exception as exc:  # jinja raises many types; the message is what matters
            raise GemmaikuError(f"the model's chat template failed: {exc}") from None

    return PromptFormat("jinja", render, (eos,) if eos else ())


def modelfile_format(template: str) -> PromptFormat:
    from gemmaiku.modelfile.prompt import render_prompt

    def render(messages: Messages) -> str:
        return render_prompt(template, messages)  # applies the policy itself

    return PromptFormat("modelfile", render, ())


def resolve_format(
    metadata: Mapping[str, str],
    *,
    template: str | None = None,
    token_text: Callable[[int], str] | None = None,
) -> PromptFormat:
    """Pick the prompt format for a model from its GGUF metadata (as llama_cpp.Llama.metadata)."""
    if template:
        return modelfile_format(template)
    if jinja := metadata.get("tokenizer.chat_template"):
        def text(key: str) -> str:
            return token_text(int(metadata[key])) if token_text and key in metadata else ""

        return jinja_format(
            jinja, bos=text("tokenizer.ggml.bos_token_id"), eos=text("tokenizer.ggml.eos_token_id")
        )
    if metadata.get("general.architecture", "").startswith("gemma"):
        return gemma_format()
    raise GemmaikuError(
        "the model has no chat template and is not a Gemma model "
        "(give a Modelfile with a TEMPLATE, or a GGUF that carries tokenizer.chat_template)"
    )
