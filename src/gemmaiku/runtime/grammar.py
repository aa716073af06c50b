"""GBNF grammars that remember the response format they were compiled from.

The server turns Ollama's ``format`` ("json" or a JSON schema) and OpenAI's ``response_format``
into GBNF, which llama.cpp decodes under. A model on another server cannot take GBNF, so a
:class:`Grammar` is the GBNF text (a ``str``: what a local engine compiles) that also carries
``json_format``, the Ollama format it stands for; runtime.remote sends that format instead, so a JSON
guarantee holds whichever side decodes. A GBNF text without a format (hand-written) cannot be
relayed, and a remote model refuses it rather than drop it.
"""

from __future__ import annotations

import json
from typing import Any

from gemmaiku.errors import GemmaikuError

OPENAI_KINDS = ("text", "json_object", "json_schema")


class Grammar(str):
    """GBNF text with ``json_format``: "json", a JSON schema, or None when it has no such source."""

    json_format: Any

    def __new__(cls, gbnf: str, json_format: Any = None) -> Grammar:
        grammar = super().__new__(cls, gbnf)
        grammar.json_format = json_format
        return grammar


def ollama_format(response_format: Any) -> Any:
    """Ollama's ``format`` ("json", a schema dict, or None) for either API's request field."""
    if response_format in (None, "", {}):
        return None
    if isinstance(response_format, dict) and response_format.get("type") in OPENAI_KINDS:
        kind = response_format["type"]
        if kind == "text":
            return None
        if kind == "json_object":
            return "json"
        return (response_format.get("json_schema") or {}).get("schema") or "json"
    if response_format == "json" or isinstance(response_format, dict):
        return response_format
    raise GemmaikuError('format must be "json" or a JSON schema object')


def format_grammar(response_format: Any) -> Grammar | None:
    """The grammar for Ollama's ``format`` or OpenAI's ``response_format`` (None: free text)."""
    wanted = ollama_format(response_format)
    if wanted is None:
        return None
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    if wanted == "json":
        return Grammar(JSON_GBNF, "json")
    try:
        return Grammar(json_schema_to_gbnf(json.dumps(wanted)), wanted)
    except Exception as exc:  # the converter raises several types for schemas it cannot express
        raise GemmaikuError(f"unsupported format schema: {exc}") from None
