"""Turn a chat into the prompt text, the way Ollama does it with a Modelfile's TEMPLATE.

Ollama's rules (``server/routes.go``, ``template/template.go``), followed here:

1. The conversation is the Modelfile's MESSAGEs followed by the request's messages. The
   Modelfile's SYSTEM goes in front as a system message unless the request's first message
   is a system message: a request's own system prompt replaces the Modelfile's.
2. Consecutive messages of the same role are merged with a blank line between them; ``.System``
   is all system messages joined the same way.
3. A template that mentions ``.Messages`` is rendered once with ``.System``, ``.Messages``
   (each with ``.Role`` and ``.Content``) and an empty ``.Response``.
4. Any other template is rendered once per exchange with ``.System``, ``.Prompt`` and
   ``.Response``; the last rendering stops right after ``{{ .Response }}``, which is where the
   model goes on writing. A template that mentions neither ``.Messages`` nor ``.Response`` gets
   ``{{ .Response }}`` added at its end.

A Modelfile without TEMPLATE renders ``{{ .Prompt }}`` (Ollama takes the GGUF's chat template
when it recognises one, which gemmaiku cannot know here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gemmaiku.errors import GemmaikuError
from gemmaiku.modelfile.gotemplate import (
    Action,
    Field,
    ListNode,
    Pipe,
    Struct,
    Template,
    TemplateError,
    cut_after_response,
    execute,
    parse_template,
)
from gemmaiku.modelfile.gotemplate import Command as _Command
from gemmaiku.modelfile.parser import Modelfile

DEFAULT_TEMPLATE = "{{ .Prompt }}"
ROLES = ("system", "user", "assistant", "tool")


def conversation(
    modelfile: Modelfile | None, messages: Iterable[Mapping[str, Any]], system: str | None = None
) -> list[dict[str, str]]:
    """The messages Ollama renders for a request: rule 1 above.

    ``system`` is a request's own system prompt given apart from the messages (``/api/generate``'s
    ``system`` field); it replaces the Modelfile's SYSTEM too.
    """
    request = [_message(m, i) for i, m in enumerate(messages)]
    msgs = [dict(m) for m in modelfile.messages] if modelfile is not None else []
    msgs += request
    if system is not None and system != "":
        msgs.insert(0, {"role": "system", "content": system})
    elif (
        modelfile is not None
        and modelfile.system
        and not (request and request[0]["role"] == "system")
    ):
        msgs.insert(0, {"role": "system", "content": modelfile.system})
    return msgs


def _message(message: Mapping[str, Any], index: int) -> dict[str, str]:
    role = message.get("role")
    content = message.get("content", "")
    if role not in ROLES:
        raise GemmaikuError(
            f"message {index + 1}: role must be one of {', '.join(ROLES)}, not {role!r}"
        )
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise GemmaikuError(f"message {index + 1}: content must be a string")
    return {"role": role, "content": content}


def collate(messages: list[dict[str, str]]) -> tuple[str, list[dict[str, str]]]:
    """Rule 2: (all system text joined by blank lines, messages with same-role runs merged)."""
    system = [m["content"] for m in messages if m["role"] == "system"]
    merged: list[dict[str, str]] = []
    for message in messages:
        if merged and merged[-1]["role"] == message["role"] and message["role"] != "tool":
            merged[-1] = {
                **merged[-1],
                "content": merged[-1]["content"] + "\n\n" + message["content"],
            }
        else:
            merged.append(dict(message))
    return "\n\n".join(system), merged


def compile_template(source: str) -> Template:
    """Parse a TEMPLATE and apply rule 4's touch-up (``{{ .Response }}`` added when missing)."""
    template = parse_template(source)
    names = template.identifiers()
    if "messages" not in names and "response" not in names:
        response = Action(Pipe([], False, [_Command([Field(["Response"])])], 0))
        template = Template(source, ListNode([*template.root.nodes, response]))
    return template


def _struct(message: dict[str, str]) -> Struct:
    # The fields of Ollama's template message; tool calls and images are not modelled.
    return Struct(
        "*template.templateMessage",
        Role=message["role"],
        Content=message["content"],
        Thinking="",
        Images=None,
        ToolCalls=None,
        ToolName="",
        ToolCallID="",
    )


def render_messages(template: str | Template, messages: list[dict[str, str]]) -> str:
    """Render an already assembled conversation with a template (rules 2-4)."""
    compiled = compile_template(template) if isinstance(template, str) else template
    system, merged = collate(messages)
    base = {"Think": False, "ThinkLevel": "", "IsThinkSet": False}
    if "messages" in compiled.identifiers():
        return compiled.render(
            {
                **base,
                "System": system,
                "Messages": [_struct(m) for m in merged],
                "Tools": None,
                "Response": "",
            }
        )
    out: list[str] = []
    turn = {"System": "", "Prompt": "", "Response": ""}

    def flush() -> None:
        out.append(compiled.render({**base, **turn}))
        turn.update(System="", Prompt="", Response="")

    for message in merged:
        role, content = message["role"], message["content"]
        if role == "system":
            if turn["Prompt"] or turn["Response"]:
                flush()
            turn["System"] = content
        elif role == "user":
            if turn["Response"]:
                flush()
            turn["Prompt"] = content
        elif role == "assistant":
            turn["Response"] = content
    out.append(execute(cut_after_response(compiled.root), {**base, **turn}))
    return "".join(out)


def render_prompt(
    modelfile_or_template: Modelfile | str,
    messages: Iterable[Mapping[str, Any]] = (),
    system: str | None = None,
) -> str:
    """The exact prompt text Ollama would give the model for a chat request.

    ``modelfile_or_template`` is a :class:`Modelfile` (its TEMPLATE, SYSTEM and MESSAGEs apply)
    or bare template text. ``messages`` are the request's ``{"role", "content"}`` dicts; a
    system message first in them replaces the Modelfile's SYSTEM, and so does ``system``.
    Ollama adds BOS itself when it tokenizes, so the text has none unless the template has.
    Raises :class:`GemmaikuError` for bad messages and for template errors.
    """
    if isinstance(modelfile_or_template, Modelfile):
        modelfile = modelfile_or_template
        if modelfile.renderer:
            raise GemmaikuError(
                f"RENDERER {modelfile.renderer} is built into Ollama and replaces TEMPLATE; "
                "gemmaiku cannot render it (remove RENDERER to use the TEMPLATE)"
            )
        source = modelfile.template if modelfile.template is not None else DEFAULT_TEMPLATE
        where = (
            f"TEMPLATE (line {modelfile.line('template')})"
            if modelfile.line("template")
            else "TEMPLATE"
        )
    else:
        modelfile, source, where = None, modelfile_or_template, "template"
    msgs = conversation(modelfile, messages, system)
    try:
        return render_messages(source, msgs)
    except TemplateError as exc:
        raise GemmaikuError(f"{where}: {exc}") from None
