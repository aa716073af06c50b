"""Checks at the door of /api/create: a model is refused with a reason (400) unless the server
can serve it exactly as it was described, so nothing a client sent is silently dropped (the JSON fields it cannot honour are
refused by the request schema, serve.schemas) and no
broken row reaches /api/tags or a later chat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gemmaiku.errors import GemmaikuError
from gemmaiku.serve.limits import Limits, check_template

# Modelfile instructions the server cannot honour: field of the parsed Modelfile -> why and what
# to do instead. Ollama applies ADAPTER and DRAFT; serving the model without them would answer
# with a different model than the one described.
UNSUPPORTED_INSTRUCTIONS: dict[str, str] = {
    "adapters": "ADAPTER is not applied by gemmaiku serve (merge the adapter first: gemmaiku fuse, "
                "then gemmaiku export, and FROM the GGUF it writes)",
    "draft": "DRAFT (speculative decoding with a draft model) is not supported (remove the DRAFT line)",
    "renderer": "RENDERER names a renderer built into Ollama (remove it and give a TEMPLATE)",
    "parser": "PARSER names a parser built into Ollama (remove the PARSER line)",
}

# A conversation a template is tried on at create time, so a template that cannot render (or
# renders past its budget) is refused then rather than at every later chat.
TRIAL_MESSAGES = [
    {"role": "system", "content": "Answer in haiku."},
    {"role": "user", "content": "Hello."},
    {"role": "assistant", "content": "Morning light arrives"},
    {"role": "user", "content": "Again, please."},
]


def refuse_unsupported(modelfile: Any) -> None:
    for field, reason in UNSUPPORTED_INSTRUCTIONS.items():
        if getattr(modelfile, field, None):
            raise GemmaikuError(reason)


def check_model_template(source: str | None, limits: Limits) -> None:
    """A TEMPLATE must parse and render a small conversation within its budgets."""
    if source is None:
        return
    from gemmaiku.modelfile import render_prompt

    check_template(source, limits, "TEMPLATE")
    try:
        render_prompt(source, TRIAL_MESSAGES)
    except GemmaikuError as exc:
        raise GemmaikuError(f"TEMPLATE cannot be used: {exc}") from None


def check_gguf(path: Path) -> None:
    """Open a GGUF named by a client and check what serving and listing it need (the
    architecture, tensors, and the metadata /api/tags shows), before it is accepted."""
    from gemmaiku.base.gguf_io import open_gguf

    gguf_file = open_gguf(path)
    metadata = gguf_file.metadata
    architecture = metadata.get("general.architecture")
    if not isinstance(architecture, str) or not architecture:
        raise GemmaikuError(f"{path.name} has no general.architecture (not a model GGUF)")
    if not gguf_file.tensors:
        raise GemmaikuError(f"{path.name} has no tensors (not a model GGUF)")
    for key in ("general.file_type", f"{architecture}.context_length"):
        if key in metadata and not isinstance(metadata[key], int):
            raise GemmaikuError(f"{path.name}: {key} is {metadata[key]!r}, not an integer (damaged GGUF)")
