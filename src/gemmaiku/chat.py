"""The one chat format that SFT, export, the Modelfile and the server all agree on.

Gemma's turn format, with the system prompt placed at the top of the first user turn (Gemma has
no system role)::

    <bos><start_of_turn>user
    {system}

    {user}<end_of_turn>
    <start_of_turn>model
    {assistant}<end_of_turn>
    <start_of_turn>model

``render_chat`` is the Python twin of ``CHAT_TEMPLATE`` (Jinja, stored in the tokenizer and the
GGUF); tests keep the two identical.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gemmaiku.errors import GemmaikuError

BOS = "<bos>"
START_OF_TURN = "<start_of_turn>"
END_OF_TURN = "<end_of_turn>"
ROLE_NAMES = {"user": "user", "assistant": "model"}

DEFAULT_SYSTEM_PROMPT = (
    "You are Gemmaiku. You answer every message with one haiku: three lines of five, seven "
    "and five syllables. No title, no preamble, no explanation, only the haiku."
)

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system_prefix = messages[0]['content'] | trim + '\n\n' -%}"
    "{%- set turns = messages[1:] -%}"
    "{%- else -%}"
    "{%- set system_prefix = '' -%}"
    "{%- set turns = messages -%}"
    "{%- endif -%}"
    "{%- for message in turns -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (system_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<start_of_turn>model\n' }}"
    "{%- endif -%}"
)


def split_system(messages: Sequence[Mapping[str, str]]) -> tuple[str | None, list[Mapping[str, str]]]:
    """Return (system prompt or None, the remaining user/assistant turns)."""
    if messages and messages[0].get("role") == "system":
        return str(messages[0].get("content", "")), list(messages[1:])
    return None, list(messages)


def render_chat(
    messages: Sequence[Mapping[str, str]],
    *,
    add_generation_prompt: bool = False,
    bos: bool = True,
) -> str:
    """Render messages in Gemmaiku's Gemma turn format (the same text as ``CHAT_TEMPLATE``)."""
    system, turns = split_system(messages)
    prefix = f"{system.strip()}\n\n" if system is not None else ""
    parts = [BOS] if bos else []
    for index, message in enumerate(turns):
        role = message.get("role")
        if role not in ROLE_NAMES or (role == "user") != (index % 2 == 0):
            raise GemmaikuError(
                "conversation roles must alternate user/assistant/... after an optional system "
                f"message (turn {index + 1} is {role!r})"
            )
        content = str(message.get("content", "")).strip()
        head = prefix if index == 0 else ""
        parts.append(f"{START_OF_TURN}{ROLE_NAMES[role]}\n{head}{content}{END_OF_TURN}\n")
    if add_generation_prompt:
        parts.append(f"{START_OF_TURN}model\n")
    return "".join(parts)
