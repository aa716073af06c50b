"""Gemmaiku's own Modelfile: the chat format of ``gemmaiku.chat`` as an Ollama TEMPLATE.

``GEMMAIKU_TEMPLATE`` renders a conversation to the same text as
``gemmaiku.chat.render_chat(messages, add_generation_prompt=True, bos=False)``: Gemma turns,
the system prompt at the top of the first user turn, a model turn opened at the end. Ollama adds
BOS itself (the GGUF says add_bos). Go templates have no trim function, so the one difference
is that ``render_chat`` strips blanks around each message and Ollama passes them through.
"""

from __future__ import annotations

import os
from pathlib import Path

from gemmaiku.atomic import write_text_atomic
from gemmaiku.chat import DEFAULT_SYSTEM_PROMPT
from gemmaiku.errors import GemmaikuError
from gemmaiku.modelfile.parser import Modelfile
from gemmaiku.options import SHIPPED

# $hasSystem, not $system's truth: an empty system message still adds its blank line in
# render_chat. Only the first user turn gets the system text.
GEMMAIKU_TEMPLATE = """\
{{- $system := "" }}{{ $hasSystem := false }}
{{- range .Messages }}
{{- if eq .Role "system" }}{{ $system = .Content }}{{ $hasSystem = true }}
{{- else if eq .Role "user" }}<start_of_turn>user
{{ if $hasSystem }}{{ $system }}

{{ $hasSystem = false }}{{ end }}{{ .Content }}<end_of_turn>
{{ else if eq .Role "assistant" }}<start_of_turn>model
{{ .Content }}<end_of_turn>
{{ end }}
{{- end }}<start_of_turn>model
"""

GEMMAIKU_PARAMETERS = SHIPPED  # gemmaiku.options: the one set of shipped sampling values


def gemmaiku_modelfile(
    gguf_path: str | os.PathLike[str], system: str = DEFAULT_SYSTEM_PROMPT
) -> Modelfile:
    """The Modelfile the pipeline ships with a fine-tuned GGUF.

    FROM the GGUF, SYSTEM ``system``, Gemmaiku's TEMPLATE and the shipped PARAMETERs
    (:data:`gemmaiku.options.SHIPPED`: temperature 0.6, repeat_penalty 1.1, stop
    ``<end_of_turn>``). The GGUF need not exist yet; ``write_modelfile`` writes FROM relative to
    the Modelfile's folder.
    """
    return Modelfile(
        from_=os.fspath(gguf_path),
        parameters={
            k: (list(v) if isinstance(v, list) else v) for k, v in GEMMAIKU_PARAMETERS.items()
        },
        template=GEMMAIKU_TEMPLATE,
        system=system,
    )


def _relative(modelfile: Modelfile, value: str, folder: Path) -> str:
    """A local path re-expressed relative to ``folder`` ("./x.gguf"); other values unchanged."""
    path = modelfile.resolve(value)
    if not path.exists() and not _looks_like_path(value):
        return value  # a model name such as gemma3:270m
    try:
        rel = os.path.relpath(path.resolve(), folder.resolve())
    except ValueError:  # another drive on Windows
        return str(path.resolve())
    return rel if rel.startswith("..") else f"./{rel}"


def _looks_like_path(value: str) -> bool:
    return (
        value.startswith((".", "/", "~", "\\"))
        or os.sep in value
        or value.lower().endswith((".gguf", ".bin", ".safetensors"))
    )


def write_modelfile(modelfile: Modelfile, path: str | os.PathLike[str]) -> Path:
    """Write ``modelfile`` atomically to ``path``, FROM/ADAPTER/DRAFT relative to its folder."""
    path = Path(path)
    if path.is_dir():
        raise GemmaikuError(
            f"{path} is a folder (give the Modelfile's file name, e.g. {path / 'Modelfile'})"
        )
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    out = Modelfile(
        **{
            **{
                k: getattr(modelfile, k)
                for k in (
                    "parameters",
                    "template",
                    "system",
                    "license",
                    "messages",
                    "requires",
                    "renderer",
                    "parser",
                )
            },
            "from_": _relative(modelfile, modelfile.from_, folder),
            "adapters": [_relative(modelfile, a, folder) for a in modelfile.adapters],
            "draft": None
            if modelfile.draft is None
            else _relative(modelfile, modelfile.draft, folder),
        }
    )
    return write_text_atomic(path, out.to_text())
