"""Read and write Ollama Modelfiles with the grammar of ollama's ``parser/parser.go``.

The rules that matter, as Ollama applies them:

- one instruction per line, names case-insensitive, ``#`` starts a comment at the start of a
  line only (``PARAMETER temperature 0.6 # x`` is a bad value, not a comment);
- a value runs to the end of the line, surrounding blanks dropped; a value that starts with
  ``"`` or ``\"\"\"`` runs until a line that ends the quote, so it may span lines; there are
  no escapes, and characters that are not printable (other than tabs and newlines) are dropped;
- ``PARAMETER name value`` and ``MESSAGE role value`` take exactly one blank before the name or
  role; roles are ``system``, ``user`` and ``assistant`` (lower case);
- ``FROM`` is required; SYSTEM, TEMPLATE, REQUIRES and FROM may repeat and the last wins,
  ``PARAMETER stop`` collects a list, LICENSE and MESSAGE collect in order.

Paths (FROM, ADAPTER, DRAFT) are relative to the Modelfile's folder, ``~`` is the home folder.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemmaiku.errors import GemmaikuError
from gemmaiku.modelfile.parameters import PARAMETERS, format_value, parse_value
from gemmaiku.options import CURRENT, coerce_option, ollama_defaults

# instruction -> the Modelfile field it fills; this table is the grammar's list of verbs.
INSTRUCTIONS: dict[str, str] = {
    "from": "from_",
    "parameter": "parameters",
    "template": "template",
    "system": "system",
    "adapter": "adapters",
    "license": "license",
    "message": "messages",
    "requires": "requires",
    "draft": "draft",
    "renderer": "renderer",
    "parser": "parser",
}
MESSAGE_ROLES = ("system", "user", "assistant")
_BLANK = " \t"
_TRIM = " \t\r\n"
# golang.org/x/mod/semver, which REQUIRES must satisfy (a missing "v" is added first).
_SEMVER = re.compile(
    r"v(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*)"
    r"(?:-(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*)?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?"
)


@dataclass
class Modelfile:
    """A parsed Modelfile. ``parameters`` holds typed values (``stop`` is a list)."""

    from_: str
    parameters: dict[str, Any] = field(default_factory=dict)
    template: str | None = None
    system: str | None = None
    adapters: list[str] = field(default_factory=list)
    license: list[str] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    requires: str | None = None
    draft: str | None = None
    renderer: str | None = None
    parser: str | None = None
    # Where relative paths resolve (the Modelfile's folder); None means the current folder.
    base_dir: Path | None = field(default=None, compare=False, repr=False)
    # "from", "system", "parameter stop", ... -> the line numbers it came from, for messages.
    lines: dict[str, list[int]] = field(default_factory=dict, compare=False, repr=False)

    # -- paths -----------------------------------------------------------------------------
    def resolve(self, value: str) -> Path:
        """A FROM/ADAPTER/DRAFT value as a path: ``~`` expanded, relative to ``base_dir``."""
        path = Path(os.path.expanduser(value))
        if not path.is_absolute():
            path = (self.base_dir or Path.cwd()) / path
        return Path(os.path.abspath(path))  # cleaned, symlinks kept, like Go's filepath.Abs

    def from_path(self) -> Path | None:
        """The local file or folder FROM names, or None when FROM is a model name."""
        path = self.resolve(self.from_)
        return path if path.exists() else None

    # -- text ------------------------------------------------------------------------------
    def to_text(self) -> str:
        """The Modelfile text; :func:`parse_modelfile` reads it back to an equal Modelfile."""
        lines = [f"FROM {quote(self.from_)}"]
        lines += [f"ADAPTER {quote(path)}" for path in self.adapters]
        if self.draft is not None:
            lines.append(f"DRAFT {quote(self.draft)}")
        if self.template is not None:
            lines.append(f"TEMPLATE {quote(self.template, style='triple')}")
        if self.system is not None:
            lines.append(f"SYSTEM {quote(self.system, style='quoted')}")
        for name, value in self.parameters.items():
            for item in value if isinstance(value, list) else [value]:
                lines.append(
                    f"PARAMETER {name} {quote(format_value(item), style='quoted' if isinstance(value, list) else 'bare')}"
                )
        lines += [
            f"MESSAGE {m['role']} {quote(m['content'], style='quoted')}" for m in self.messages
        ]
        lines += [f"LICENSE {quote(text, style='triple')}" for text in self.license]
        for key in ("requires", "renderer", "parser"):
            value = getattr(self, key)
            if value is not None:
                lines.append(f"{key.upper()} {quote(value)}")
        return "\n".join(lines) + "\n"

    # -- options ---------------------------------------------------------------------------
    def options(
        self, overrides: Mapping[str, Any] | None = None, *, defaults: bool = False
    ) -> dict[str, Any]:
        """Generation options: [Ollama's defaults,] this Modelfile's PARAMETERs, then ``overrides``.

        This is how Ollama merges them for a request: a request's ``options`` win over the
        Modelfile. Only options Ollama still uses are returned (deprecated and unknown ones are
        dropped, as Ollama drops them); ``overrides`` are JSON values converted like Ollama's
        ``Options.FromMap`` (an int option takes 3.0, a float option takes 1). Unknown request
        keys are ignored, as Ollama ignores them; a value of the wrong type raises
        :class:`GemmaikuError`.
        """
        merged: dict[str, Any] = ollama_defaults() if defaults else {}
        for name, value in self.parameters.items():
            if name in CURRENT:
                merged[name] = list(value) if isinstance(value, list) else value
        for name, value in (overrides or {}).items():
            if name in CURRENT and value is not None:
                merged[name] = coerce_option(name, value)
        return merged

    def line(self, key: str) -> int | None:
        """The (last) line an instruction such as ``"system"`` or ``"parameter stop"`` came from."""
        found = self.lines.get(key)
        return found[-1] if found else None


def quote(value: str, *, style: str = "bare") -> str:
    """Write ``value`` so Ollama's parser reads back exactly ``value``.

    ``style`` is the first choice (``bare``, ``quoted`` for ``"..."``, ``triple`` for
    triple quotes); the next one that reads back exactly is used: a value cannot be bare
    if it spans lines, has blanks at its ends, is empty or starts with a quote mark, and a
    quoted value ends at the first line end where the text so far closes the quote.
    """
    order = {"bare": ("bare", '"', '"""'), "quoted": ('"', '"""'), "triple": ('"""', '"')}[style]
    for mark in order:
        if mark == "bare":
            if (
                value
                and value == value.strip(_TRIM)
                and not re.search(r"[\r\n]", value)
                and not value.startswith('"')
            ):
                return value
        elif _quotable(value, mark):
            return f"{mark}{value}{mark}"
    raise GemmaikuError(
        f"cannot write {value[:40]!r}... in a Modelfile: a line of it ends with a quote mark "
        'and it also holds """ (reword that line)'
    )


def _quotable(value: str, mark: str) -> bool:
    if mark == '"' and (mark + value + mark).startswith('"""'):
        return False  # it would read as a triple quote
    # At every line end inside the value, the text so far must not already close the quote.
    for match in re.finditer(r"[\r\n]", value):
        ok, _ = _unquote((mark + value[: match.start()]).strip(_TRIM))
        if ok:
            return False
    return True


def _unquote(text: str) -> tuple[bool, str]:
    """Ollama's unquote: (complete, value) for a trimmed value's text."""
    if text.startswith('"""'):
        if len(text) >= 6 and text.endswith('"""'):
            return True, text[3:-3]
        return False, ""
    if text.startswith('"'):
        if len(text) >= 2 and text.endswith('"'):
            return True, text[1:-1]
        return False, ""
    return True, text


class _Reader:
    """Walks the Modelfile text, counting lines (CRLF counts once) for error messages."""

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.name = name

    def error(self, message: str, line: int | None = None) -> GemmaikuError:
        return GemmaikuError(f"{self.name}:{line or self.line}: {message}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        self.pos += 1
        if ch == "\n" or (ch == "\r" and self.peek() != "\n"):
            self.line += 1
        return ch

    def word(self) -> str:
        """Characters up to the next blank, newline or end."""
        start = self.pos
        while self.peek() and self.peek() not in _TRIM:
            self.pos += 1
        return self.text[start : self.pos]

    def value(self, start_line: int) -> str:
        """A value: to the end of the line, or across lines until its quote closes."""
        buffer: list[str] = []
        first = last = -1  # the first and last characters that are not blanks or line ends
        while True:
            ch = self.take()
            if ch in ("", "\n", "\r"):
                # Whether the value so far is complete, from its ends alone: joining the whole
                # buffer at every line end made a long multi-line value quadratic to parse.
                if _closes(buffer, first, last):
                    return _unquote("".join(buffer).strip(_TRIM))[1]
                if ch == "":
                    mark = '"""' if "".join(buffer).lstrip(_TRIM).startswith('"""') else '"'
                    raise self.error(
                        f"unterminated {mark} value (close it with {mark})", start_line
                    )
                buffer.append(ch)
            elif ch in _BLANK or ch.isprintable():
                if ch not in _TRIM:
                    first = len(buffer) if first < 0 else first
                    last = len(buffer)
                buffer.append(ch)
            # Other characters are not printable: Ollama's parser drops them, so do we.


def _closes(buffer: list[str], first: int, last: int) -> bool:
    """``_unquote(...)[0]`` for the buffer's text between ``first`` and ``last``."""
    if first < 0 or buffer[first] != '"':
        return True
    size = last - first + 1
    if buffer[first : first + 3] == ['"', '"', '"']:
        return size >= 6 and buffer[last - 2 : last + 1] == ['"', '"', '"']
    return size >= 2 and buffer[last] == '"'


def parse_modelfile(
    text: str, base_dir: str | os.PathLike[str] | None = None, *, name: str = "Modelfile"
) -> Modelfile:
    """Parse Modelfile text. ``base_dir`` is where relative paths resolve; ``name`` prefixes errors.

    Raises :class:`GemmaikuError` like ``Modelfile:7: unknown instruction 'FORM' (did you mean
    FROM?)`` for anything ``ollama create`` would refuse: unknown instructions, bad roles,
    unterminated quotes, a value of the wrong type for a known PARAMETER, a bad REQUIRES, no FROM.
    """
    text = text.removeprefix("\ufeff")
    reader = _Reader(text, name)
    fields: dict[str, Any] = {"parameters": {}, "adapters": [], "license": [], "messages": []}
    lines: dict[str, list[int]] = {}
    while True:
        ch = reader.peek()
        if ch == "":
            break
        if ch in _TRIM:
            reader.take()
            continue
        if ch == "#":
            while reader.peek() not in ("", "\n", "\r"):
                reader.take()
            continue
        line = reader.line
        word = reader.word()
        instruction = word.lower()
        if instruction not in INSTRUCTIONS or not word.isascii() or not word.isalpha():
            raise reader.error(
                f"unknown instruction {word!r}{_suggest(word, INSTRUCTIONS, upper=True)}"
            )
        if reader.peek() not in tuple(_BLANK):
            raise reader.error(f"{word.upper()} needs a value")
        reader.take()
        key = instruction
        if instruction == "parameter":
            pname = _name(reader, word, "name", r"[A-Za-z0-9_]+")
            key = f"parameter {pname}"
            raw = reader.value(line)
            try:
                value = parse_value(pname, raw)
            except GemmaikuError as exc:
                raise reader.error(f"PARAMETER {exc}", line) from None
            params = fields["parameters"]
            if isinstance(value, list) and pname in params:
                params[pname] = params[pname] + value
            else:
                params[pname] = value
        elif instruction == "message":
            role = _name(reader, word, "role", r"[A-Za-z]+")
            if role not in MESSAGE_ROLES:
                raise reader.error(
                    f"MESSAGE role must be system, user or assistant, not {role!r}", line
                )
            fields["messages"].append({"role": role, "content": reader.value(line)})
        else:
            value = reader.value(line)
            if instruction == "requires":
                version = value if value.startswith("v") else "v" + value
                if not _SEMVER.fullmatch(version):
                    raise reader.error(
                        f"REQUIRES must be an Ollama version such as 0.14.0, not {value!r}", line
                    )
                value = version[1:]
            target = INSTRUCTIONS[instruction]
            if isinstance(fields.get(target), list):
                fields[target].append(value)
            else:
                fields[target] = value
        lines.setdefault(key, []).append(line)
    if "from_" not in fields:
        raise GemmaikuError(
            f"{name}: no FROM line (add one, e.g. FROM ./model.gguf or FROM gemma3:270m)"
        )
    base = Path(base_dir) if base_dir is not None else None
    return Modelfile(**fields, base_dir=base, lines=lines)


def _name(reader: _Reader, instruction: str, what: str, pattern: str) -> str:
    line = reader.line
    token = reader.word()
    if not token:
        raise reader.error(f"{instruction.upper()} needs a {what} right after one blank", line)
    if not re.fullmatch(pattern, token):
        raise reader.error(f"bad {instruction.upper()} {what} {token!r}", line)
    if reader.peek() not in tuple(_BLANK):
        raise reader.error(f"{instruction.upper()} {token} needs a value", line)
    reader.take()
    return token


def _suggest(word: str, choices: Iterable[str], *, upper: bool = False) -> str:
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    if not close:
        return ""
    guess = close[0].upper() if upper else close[0]
    return f" (did you mean {guess}?)"


def suggest_parameter(name: str) -> str:
    return _suggest(name, PARAMETERS)


def load_modelfile(path: str | os.PathLike[str]) -> Modelfile:
    """Read a Modelfile from disk; relative paths in it resolve against its folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "Modelfile"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise GemmaikuError(f"no such file: {path} (give the path to a Modelfile)") from None
    except OSError as exc:
        raise GemmaikuError(f"cannot read {path}: {exc.strerror}") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16")
    else:
        text = raw.decode("utf-8", errors="replace")
    return parse_modelfile(text, base_dir=path.parent.resolve(), name=str(path))
