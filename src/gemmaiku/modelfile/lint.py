"""Find what makes a Modelfile behave differently from what its author meant.

Each check is a small function in ``CHECKS``; each returns findings. The template checks render
the template with sentinel texts, the way Ollama would, instead of reading it with patterns: a
SYSTEM prompt counts as used only if its text shows up in a rendered prompt.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gemmaiku.errors import GemmaikuError
from gemmaiku.modelfile.parameters import PARAMETERS
from gemmaiku.modelfile.parser import Modelfile, suggest_parameter
from gemmaiku.modelfile.prompt import DEFAULT_TEMPLATE, modelfile_conversation, render_messages

GEMMA_END_OF_TURN = "<end_of_turn>"
GEMMA_MARKERS = ("<start_of_turn>", "<end_of_turn>")
_SYSTEM_SENTINEL = "\u2063SYSTEM-SENTINEL-{}\u2063"
_USER, _ASSISTANT, _USER2 = (
    "\u2063user-sentinel\u2063",
    "\u2063assistant-sentinel\u2063",
    "\u2063user-sentinel-2\u2063",
)
# A model name in a registry: [host/][namespace/]model[:tag]
_MODEL_NAME = re.compile(r"(?:[\w.-]+(?::\d+)?/)?(?:[\w.-]+/)?[\w.-]+(?::[\w.-]+)?")


@dataclass(frozen=True)
class Finding:
    severity: str  # "warning" (the Modelfile misbehaves) or "note" (worth knowing)
    code: str
    message: str
    line: int | None = None

    def format(self, name: str = "Modelfile") -> str:
        where = f"{name}:{self.line}" if self.line else name
        return f"{where}: {self.severity}: {self.message} [{self.code}]"

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _template(modelfile: Modelfile) -> str:
    return modelfile.template if modelfile.template is not None else DEFAULT_TEMPLATE


def _render(modelfile: Modelfile, messages: list[dict[str, str]]) -> str:
    return render_messages(_template(modelfile), modelfile_conversation(modelfile, messages))


def check_from(modelfile: Modelfile) -> Iterator[Finding]:
    line = modelfile.line("from")
    if len(modelfile.lines.get("from", [])) > 1:
        yield Finding(
            "warning", "repeated-from", "FROM is given more than once; Ollama uses the last", line
        )
    value = modelfile.from_
    if not value.strip():
        yield Finding(
            "warning", "from-missing", "FROM is empty (give a GGUF path or a model name)", line
        )
        return
    if modelfile.from_path() is not None:
        return
    path_like = value.startswith((".", "/", "~", "\\")) or value.lower().endswith(
        (".gguf", ".bin", ".safetensors")
    )
    if path_like or not _MODEL_NAME.fullmatch(value):
        where = modelfile.resolve(value)
        yield Finding(
            "warning",
            "from-missing",
            f"FROM {value}: no such file ({where}; paths are relative to the Modelfile's folder)",
            line,
        )
    else:
        yield Finding(
            "note",
            "from-registry",
            f"FROM {value} is a model name, pulled from a registry by Ollama, not a local file",
            line,
        )


def check_parameters(modelfile: Modelfile) -> Iterator[Finding]:
    for name, value in modelfile.parameters.items():
        line = modelfile.line(f"parameter {name}")
        spec = PARAMETERS.get(name)
        if spec is None:
            hint = suggest_parameter(name) or " (see gemmaiku modelfile params)"
            yield Finding(
                "warning",
                "unknown-parameter",
                f"unknown parameter {name!r}: ollama create refuses it{hint}",
                line,
            )
        elif spec.status == "removed":
            yield Finding(
                "warning",
                "removed-parameter",
                f"parameter {name!r} was removed from Ollama: ollama create refuses it",
                line,
            )
        elif spec.status == "deprecated":
            yield Finding(
                "warning",
                "deprecated-parameter",
                f"parameter {name!r} is deprecated: Ollama ignores it",
                line,
            )
        elif not _has_type(spec.type, value):
            message = f"parameter {name!r} must be of type {spec.type}, not {value!r}"
            yield Finding("warning", "parameter-type", message, line)
        elif problem := spec.check(value):
            yield Finding("warning", "parameter-range", problem, line)
        if (
            spec is not None
            and spec.type != "list"
            and len(modelfile.lines.get(f"parameter {name}", [])) > 1
        ):
            yield Finding(
                "warning",
                "repeated-parameter",
                f"parameter {name!r} is set more than once; the last wins",
                line,
            )


def _has_type(kind: str, value: object) -> bool:
    """Parsed Modelfiles always hold typed values; one built in Python may not."""
    if kind == "list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return type(value) is {"int": int, "bool": bool, "str": str}[kind]


def check_system_used(modelfile: Modelfile) -> Iterator[Finding]:
    """SYSTEM (or MESSAGE system) set but the rendered prompt never shows it."""
    probe = dataclasses.replace(modelfile, messages=[dict(m) for m in modelfile.messages])
    wanted: list[tuple[str, str, int | None]] = []
    if modelfile.system:
        probe.system = _SYSTEM_SENTINEL.format("modelfile")
        wanted.append((probe.system, "SYSTEM", modelfile.line("system")))
    message_lines = modelfile.lines.get("message", [])
    for index, message in enumerate(probe.messages):
        if message["role"] == "system":
            message["content"] = _SYSTEM_SENTINEL.format(index)
            line = message_lines[index] if index < len(message_lines) else None
            wanted.append((message["content"], "MESSAGE system", line))
    if not wanted:
        return
    text = _render(probe, [{"role": "user", "content": _USER}])
    for sentinel, what, line in wanted:
        if sentinel not in text:
            yield Finding(
                "warning",
                "system-dropped",
                f"{what} is set but the TEMPLATE never renders it (neither .System nor a system "
                "message): Ollama drops the system prompt silently",
                line,
            )


def _is_gemma(modelfile: Modelfile) -> bool:
    return any(marker in _template(modelfile) for marker in GEMMA_MARKERS)


def check_stop(modelfile: Modelfile) -> Iterator[Finding]:
    if not _is_gemma(modelfile):
        return
    stops = modelfile.parameters.get("stop") or []
    if not any(stop and stop in GEMMA_END_OF_TURN for stop in stops if isinstance(stop, str)):
        yield Finding(
            "warning",
            "stop-missing",
            f'Gemma template but no stop covers {GEMMA_END_OF_TURN} (add PARAMETER stop "{GEMMA_END_OF_TURN}")',
            modelfile.line("template"),
        )


def check_generation_prompt(modelfile: Modelfile) -> Iterator[Finding]:
    """The prompt must end by opening the model's turn, or the model continues the user's text."""
    bare = dataclasses.replace(modelfile, system=None, messages=[])
    one = _render(bare, [{"role": "user", "content": _USER}])
    three = _render(
        bare,
        [
            {"role": "user", "content": _USER},
            {"role": "assistant", "content": _ASSISTANT},
            {"role": "user", "content": _USER2},
        ],
    )
    if _USER not in one:
        yield Finding(
            "warning",
            "prompt-dropped",
            "the TEMPLATE never renders the user's message",
            modelfile.line("template"),
        )
        return
    tail = one[one.rindex(_USER) + len(_USER) :]
    if _USER in three and _ASSISTANT in three and three.index(_USER) < three.index(_ASSISTANT):
        header = three[three.index(_USER) + len(_USER) : three.index(_ASSISTANT)]
        ok = tail.endswith(header) if header.strip() else bool(tail.strip())
    else:
        ok = bool(tail.strip())
    if not ok:
        yield Finding(
            "warning",
            "no-generation-prompt",
            f"the rendered prompt ends with {tail[-40:]!r} instead of opening the model's turn: "
            "the model would go on writing the user's message",
            modelfile.line("template"),
        )


def check_template_present(modelfile: Modelfile) -> Iterator[Finding]:
    if modelfile.template is None:
        yield Finding(
            "note",
            "no-template",
            "no TEMPLATE: Ollama uses the GGUF's chat template if it recognises it, else the bare "
            "prompt ({{ .Prompt }}); the template checks are skipped",
        )
    for key in ("template", "system", "requires"):
        if len(modelfile.lines.get(key, [])) > 1:
            yield Finding(
                "warning",
                f"repeated-{key}",
                f"{key.upper()} is given more than once; Ollama uses the last",
                modelfile.line(key),
            )
    if len(modelfile.adapters) > 1:
        yield Finding(
            "warning",
            "repeated-adapter",
            "more than one ADAPTER: Ollama applies only the last",
            modelfile.line("adapter"),
        )


CHECKS: list[Callable[[Modelfile], Iterator[Finding]]] = [
    check_from,
    check_parameters,
    check_template_present,
    check_system_used,
    check_stop,
    check_generation_prompt,
]
# Checks that render the template; skipped when the template cannot be rendered.
_RENDERING = {check_system_used, check_generation_prompt}


def lint_modelfile(modelfile: Modelfile) -> list[Finding]:
    """All findings for a parsed Modelfile, in check order."""
    findings: list[Finding] = []
    renderable = True
    if modelfile.renderer:
        renderable = False
        findings.append(
            Finding(
                "note",
                "renderer",
                f"RENDERER {modelfile.renderer}: Ollama renders prompts in Go and ignores TEMPLATE; template checks skipped",
                modelfile.line("renderer"),
            )
        )
    else:
        try:
            _render(modelfile, [{"role": "user", "content": _USER}])
        except GemmaikuError as exc:
            renderable = False
            findings.append(
                Finding(
                    "warning",
                    "template-error",
                    f"TEMPLATE cannot be rendered: {exc}",
                    modelfile.line("template"),
                )
            )
    # Without a TEMPLATE the prompt depends on the GGUF, which lint does not read.
    renderable = renderable and modelfile.template is not None
    for check in CHECKS:
        if check in _RENDERING and not renderable:
            continue
        findings.extend(check(modelfile))
    return findings
