"""The one conversation policy, and the prompt text a Modelfile's TEMPLATE makes of it.

Every path to a model goes through :func:`conversation`: the server (Ollama and OpenAI APIs),
``gemmaiku modelfile render``, ``gemmaiku generate``, the evaluation and every llama.cpp prompt
format (runtime.prompt), so the text ``modelfile render`` prints is the text the model sees.
The policy, for a request's messages, a Modelfile's SYSTEM and its MESSAGE history:

1. Roles are ``system``, ``user``, ``assistant`` and ``tool``; content is text. Messages with
   images are refused: the models served here read text only.
2. The system prompt is the request's own system messages, wherever they are, joined by a blank
   line; only when the request has none is it the Modelfile's (its SYSTEM, then its MESSAGE
   system entries). It goes first.
3. The Modelfile's MESSAGE history comes before the request. Tool turns are dropped (the models
   here call no tools), contents are stripped as in training (gemmaiku.chat.render_chat; a Go
   template cannot trim), runs of one role are merged with a blank line, and a conversation
   that opens with the assistant gets an empty user turn first (Gemma turns alternate).

Where this departs from Ollama (which keeps whitespace, tool turns, and a system message that is
not first in place beside the Modelfile's SYSTEM) it is to give the model the prompts it was
trained on. The TEMPLATE is then rendered the way Ollama renders it (``template/template.go``):

- ``.System`` is the system text; a template that mentions ``.Messages`` is rendered once with
  ``.System``, ``.Messages`` (each with ``.Role`` and ``.Content``) and an empty ``.Response``;
- any other template is rendered once per exchange with ``.System``, ``.Prompt`` and
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
TURN_ROLES = ("user", "assistant")


def conversation(
    messages: Iterable[Mapping[str, Any]],
    *,
    system: str | None = None,
    history: Iterable[Mapping[str, Any]] = (),
) -> list[dict[str, str]]:
    """The messages a model sees (the policy above): an optional system message, then
    alternating-ready user and assistant turns.

    ``messages`` are the request's; ``system`` and ``history`` are a Modelfile's SYSTEM and
    MESSAGEs. Raises :class:`GemmaikuError` for a bad role, non-text content or images.
    """
    request = [_message(m, i) for i, m in enumerate(messages)]
    past = [_message(m, i) for i, m in enumerate(history)]
    own = [m["content"] for m in request if m["role"] == "system"]
    if own:  # even an empty one: a client may clear the Modelfile's SYSTEM
        system_text = "\n\n".join(own)
    else:
        system_text = "\n\n".join([*([system.strip()] if system else []),
                                    *(m["content"] for m in past if m["role"] == "system")])
    turns: list[dict[str, str]] = []
    for message in (*past, *request):
        if message["role"] not in TURN_ROLES:
            continue
        if turns and turns[-1]["role"] == message["role"]:
            turns[-1] = {**turns[-1], "content": turns[-1]["content"] + "\n\n" + message["content"]}
        else:
            turns.append(dict(message))
    if turns and turns[0]["role"] == "assistant":
        turns.insert(0, {"role": "user", "content": ""})
    return ([{"role": "system", "content": system_text}] if system_text else []) + turns


def modelfile_conversation(
    modelfile: Modelfile | None, messages: Iterable[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """:func:`conversation` with a Modelfile's SYSTEM and MESSAGE history (None: neither)."""
    if modelfile is None:
        return conversation(messages)
    return conversation(messages, system=modelfile.system, history=modelfile.messages)


def _message(message: Mapping[str, Any], index: int) -> dict[str, str]:
    role = message.get("role")
    content = message.get("content", "")
    if role not in ROLES:
        raise GemmaikuError(
            f"message {index + 1}: role must be one of {', '.join(ROLES)}, not {role!r}"
        )
    if message.get("images"):
        raise GemmaikuError(
            f"message {index + 1} has images: this model reads text only (send the text alone)"
        )
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise GemmaikuError(f"message {index + 1}: content must be a string")
    return {"role": role, "content": content.strip()}


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
    or bare template text. ``messages`` are the request's ``{"role", "content"}`` dicts; their
    system messages replace the Modelfile's SYSTEM, and so does ``system`` (a generate
    request's own system prompt).
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
    own = [{"role": "system", "content": system}] if system is not None else []
    msgs = modelfile_conversation(modelfile, [*own, *messages])
    try:
        return render_messages(source, msgs)
    except TemplateError as exc:
        raise GemmaikuError(f"{where}: {exc}") from None
