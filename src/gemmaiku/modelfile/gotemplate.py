"""The subset of Go's text/template that Ollama's chat templates use: lexer, parser, evaluator.

Ollama renders a Modelfile's TEMPLATE with Go's ``text/template`` (``missingkey=zero``). This
module reads the same syntax and follows the same rules where templates depend on them:

- ``{{ .Field }}``, ``{{ $var }}``, ``{{ $.Field }}``, ``{{ $var.Field }}``, ``{{ . }}``, string,
  raw-string, number, ``true``/``false``/``nil`` literals, ``( ... )`` and ``|`` pipelines;
- ``if`` / ``else if`` / ``else`` / ``end``, ``with`` (and ``else with``), ``range`` over lists,
  maps (sorted keys) and integers with ``$i, $m :=`` declarations, ``break``, ``continue``;
- ``$x := ...`` declarations and ``$x = ...`` assignments, scoped to the enclosing ``end``;
- ``{{-`` / ``-}}`` whitespace trimming and ``{{/* comments */}}``;
- the functions in ``FUNCTIONS`` (Go's builtins plus Ollama's ``json`` and dates).

Anything else (``define``, ``template``, ``block``, method calls) raises :class:`TemplateError`
naming the template line, rather than rendering something Ollama would not.

Templates come from clients (a Modelfile sent to ``/api/create``, ``/api/generate``'s
``template``), so parsing and rendering have budgets: blocks and parentheses nest at most
``MAX_NESTING`` deep, and a render stops with :class:`TemplateLimitError` past the
:class:`ExecutionLimits` (range iterations, output size, value size, time).
"""

from __future__ import annotations

import copy
import datetime
import functools
import html
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gemmaiku.errors import GemmaikuError


class TemplateError(GemmaikuError):
    """A template that cannot be parsed or rendered; the message names the template line."""


class TemplateLimitError(TemplateError):
    """A template over one of its budgets (nesting, range iterations, output, time)."""


MAX_NESTING = 50  # blocks and parentheses inside each other; Ollama's own templates use < 10
MAX_PRINTF_WIDTH = 1_000_000  # a printf width or precision; Go's fmt gives up past 1e6 too


@dataclass(frozen=True)
class ExecutionLimits:
    """What one render may cost. A prompt is a few thousand tokens; these leave room for long
    conversations (the server takes bodies up to 8 MB) and stop templates that loop or grow."""

    range_iterations: int = 100_000  # all {{range}} bodies of one render together
    output_chars: int = 16_000_000  # the rendered text, and any one value a function returns
    seconds: float = 5.0


DEFAULT_LIMITS = ExecutionLimits()


class _Missing:
    """A map key that is not there: Go prints it as ``<no value>`` and treats it as false."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


class Struct:
    """A Go struct value (an Ollama message): fields by name, an unknown field is an error."""

    def __init__(self, type_name: str, **fields: Any) -> None:
        self.type_name = type_name
        self.fields = fields

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Struct) and (self.type_name, self.fields) == (
            other.type_name,
            other.fields,
        )

    def __repr__(self) -> str:
        return f"{self.type_name}({self.fields!r})"


# ---------------------------------------------------------------------------------------------
# Lexer: split the source into text and the tokens of each action.

_SPACE = " \t\r\n"
_KEYWORDS = {
    "if",
    "else",
    "end",
    "range",
    "with",
    "break",
    "continue",
    "define",
    "template",
    "block",
}
_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<decl>:=)
  | (?P<assign>=)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<pipe>\|)
  | (?P<comma>,)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?))
  | (?P<variable>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<chainfield>(?<=\))(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)


@dataclass
class Token:
    kind: str
    text: str
    line: int


@dataclass
class _Action:
    tokens: list[Token]
    line: int


def _lex(source: str) -> list[str | _Action]:
    """Return text pieces and actions in order, with ``{{-``/``-}}`` trimming applied."""
    items: list[str | _Action] = []
    pos, line, trim_next = 0, 1, False
    while True:
        start = source.find("{{", pos)
        text = source[pos:] if start < 0 else source[pos:start]
        if trim_next:
            text = text.lstrip(_SPACE)
        if start < 0:
            if text:
                items.append(text)
            return items
        inner = start + 2
        if source[inner : inner + 1] == "-" and source[inner + 1 : inner + 2] in tuple(_SPACE):
            text = text.rstrip(_SPACE)
            inner += 2
        if text:
            items.append(text)
        line += source.count("\n", pos, start)
        action_line = line
        body_start = inner + len(source[inner:]) - len(source[inner:].lstrip(_SPACE))
        if source.startswith("/*", body_start):
            close = source.find("*/", body_start + 2)
            if close < 0:
                raise TemplateError(f"template line {action_line}: unclosed comment")
            after = close + 2
            trim_next = False
            if source[after : after + 1] in tuple(_SPACE) and source.startswith("-}}", after + 1):
                trim_next, after = True, after + 4
            elif source.startswith("}}", after):
                after += 2
            else:
                raise TemplateError(
                    f"template line {action_line}: comment ends before closing delimiter"
                )
            line += source.count("\n", start, after)
            pos = after
            continue
        tokens, pos, trim_next = _lex_action(source, inner, action_line)
        line = action_line + source.count("\n", start, pos)
        items.append(_Action(tokens, action_line))


def _lex_action(source: str, pos: int, line: int) -> tuple[list[Token], int, bool]:
    tokens: list[Token] = []
    while True:
        if source.startswith("}}", pos):
            return tokens, pos + 2, False
        if pos >= len(source):
            raise TemplateError(f"template line {line}: unclosed action (add }}}})")
        match = _TOKEN.match(source, pos)
        if match is None or match.end() == pos:
            raise TemplateError(f"template line {line}: unexpected {source[pos]!r} in action")
        kind = match.lastgroup or ""
        text = match.group()
        line += text.count("\n")
        pos = match.end()
        if kind == "space":
            if source.startswith("-}}", pos):
                return tokens, pos + 3, True
            continue
        tokens.append(Token(kind, text, line))


# ---------------------------------------------------------------------------------------------
# Parse tree: the node kinds of Go's text/template/parse that these templates need.


@dataclass
class Text:
    text: str


@dataclass
class Field:
    idents: list[str]


@dataclass
class Variable:
    name: str
    idents: list[str] = field(default_factory=list)


@dataclass
class Dot:
    pass


@dataclass
class Literal:
    value: Any


@dataclass
class Function:
    name: str


@dataclass
class Chain:
    node: Any
    idents: list[str]


@dataclass
class Command:
    args: list[Any]


@dataclass
class Pipe:
    decls: list[str]
    assign: bool
    cmds: list[Command]
    line: int


@dataclass
class Action:
    pipe: Pipe


@dataclass
class ListNode:
    nodes: list[Any]


@dataclass
class Branch:
    kind: str  # "if", "with" or "range"
    pipe: Pipe
    body: ListNode
    else_body: ListNode | None
    line: int


@dataclass
class Break:
    line: int


@dataclass
class Continue:
    line: int


_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}


def _unquote_go(body: str, line: int) -> str:
    """Decode the escapes of a Go interpreted string literal (without its quotes)."""
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        elif nxt in "01234567":
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
        else:
            raise TemplateError(f"template line {line}: unknown escape \\{nxt} in string")
    return "".join(out)


def _number(text: str, line: int) -> int | float:
    clean = text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0[xXbBoO].*", clean):
            return int(clean, 0)
        if re.fullmatch(r"[+-]?\d+", clean):
            return int(clean, 10)
        return float(clean)
    except ValueError:
        raise TemplateError(f"template line {line}: bad number syntax {text!r}") from None


class _Parser:
    """Recursive descent over the lexed items, checking variables and functions as Go does."""

    def __init__(self, items: list[str | _Action], functions: Mapping[str, Any]) -> None:
        self.items = items
        self.pos = 0
        self.functions = functions
        self.scopes: list[list[str]] = [["$"]]
        self.range_depth = 0  # break and continue are allowed only inside a range body
        self.depth = 0  # blocks and parentheses open around the current item

    def _enter(self, line: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise TemplateLimitError(
                f"template line {line}: blocks and parentheses nested deeper than {MAX_NESTING} "
                "levels (flatten the template)"
            )

    # -- statements --------------------------------------------------------------------------
    def parse(self) -> ListNode:
        body, end = self._list(top=True)
        if end is not None:
            raise TemplateError(
                f"template line {end.line}: unexpected {{{{{end.tokens[0].text}}}}}"
            )
        return body

    def _list(self, top: bool = False) -> tuple[ListNode, _Action | None]:
        """Parse nodes up to an ``end`` or ``else`` action, which is returned unconsumed-as-node."""
        nodes: list[Any] = []
        while self.pos < len(self.items):
            item = self.items[self.pos]
            self.pos += 1
            if isinstance(item, str):
                nodes.append(Text(item))
                continue
            if not item.tokens:
                raise TemplateError(f"template line {item.line}: missing value for command")
            head = item.tokens[0]
            word = head.text if head.kind == "ident" else ""
            if word in ("end", "else"):
                if top:
                    raise TemplateError(f"template line {item.line}: unexpected {{{{{word}}}}}")
                return ListNode(nodes), item
            if word in ("if", "with", "range"):
                nodes.append(self._branch(word, item))
            elif word in ("break", "continue"):
                if not self.range_depth:
                    raise TemplateError(
                        f"template line {item.line}: {{{{{word}}}}} outside {{{{range}}}}"
                    )
                if len(item.tokens) > 1:
                    raise TemplateError(
                        f"template line {item.line}: unexpected {item.tokens[1].text!r} in {word}"
                    )
                nodes.append(Break(item.line) if word == "break" else Continue(item.line))
            elif word in ("define", "template", "block"):
                raise TemplateError(
                    f"template line {item.line}: {{{{{word}}}}} is not supported by gemmaiku "
                    "(inline the sub-template)"
                )
            else:
                nodes.append(Action(self._pipeline(item.tokens, item.line, allow_decl=True)))
        if not top:
            raise TemplateError("template: unexpected end of template (missing {{end}})")
        return ListNode(nodes), None

    def _branch(self, kind: str, item: _Action, tokens: list[Token] | None = None) -> Branch:
        tokens = item.tokens[1:] if tokens is None else tokens
        self._enter(item.line)
        self.scopes.append([])
        pipe = self._pipeline(tokens, item.line, allow_decl=True, range_decl=kind == "range")
        if kind == "range":
            self.range_depth += 1
        body, end = self._list()
        if kind == "range":
            self.range_depth -= 1
        else_body = None
        assert end is not None
        if end.tokens[0].text == "else":
            rest = end.tokens[1:]
            if rest and rest[0].kind == "ident" and rest[0].text == kind and kind != "range":
                # "else if" is an else branch holding a nested if that shares this branch's end.
                self.scopes.append([])
                nested = self._branch(rest[0].text, end, rest[1:])
                self.scopes.pop()
                else_body = ListNode([nested])
            elif rest:
                raise TemplateError(
                    f"template line {end.line}: unexpected {rest[0].text!r} after else"
                )
            else:
                else_body, end2 = self._list()
                assert end2 is not None
                if end2.tokens[0].text != "end" or len(end2.tokens) > 1:
                    raise TemplateError(
                        f"template line {end2.line}: expected {{{{end}}}} after {{{{else}}}}"
                    )
        elif len(end.tokens) > 1:
            raise TemplateError(
                f"template line {end.line}: unexpected {end.tokens[1].text!r} in end"
            )
        self.scopes.pop()
        self.depth -= 1
        return Branch(kind, pipe, body, else_body, item.line)

    # -- pipelines ---------------------------------------------------------------------------
    def _defined(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    def _pipeline(
        self, tokens: list[Token], line: int, *, allow_decl: bool, range_decl: bool = False
    ) -> Pipe:
        toks = [t for t in tokens if t.kind != "space"]
        decls: list[str] = []
        assign = False
        # Declarations: "$x :=", "$x =", or "$i, $m :=" in a range.
        if allow_decl and toks and toks[0].kind == "variable" and "." not in toks[0].text:
            if len(toks) > 1 and toks[1].kind in ("decl", "assign"):
                decls, assign, toks = [toks[0].text], toks[1].kind == "assign", toks[2:]
            elif (
                range_decl
                and len(toks) > 3
                and toks[1].kind == "comma"
                and toks[2].kind == "variable"
                and toks[3].kind in ("decl", "assign")
            ):
                decls, assign, toks = (
                    [toks[0].text, toks[2].text],
                    toks[3].kind == "assign",
                    toks[4:],
                )
        if not toks:
            raise TemplateError(f"template line {line}: missing value for command")
        cmds = self._commands(_Stream(toks, line))
        # Like Go, an assignment to an unknown variable is caught only when it runs.
        self.scopes[-1].extend(decls)
        return Pipe(decls, assign, cmds, line)

    def _commands(self, stream: _Stream, nested: bool = False) -> list[Command]:
        cmds: list[Command] = []
        args: list[Any] = []
        while True:
            tok = stream.peek()
            if tok is None or (nested and tok.kind == "rparen"):
                break
            stream.next()
            if tok.kind == "pipe":
                if not args:
                    raise TemplateError(f"template line {tok.line}: missing command before |")
                cmds.append(Command(args))
                args = []
                continue
            args.append(self._operand(tok, stream))
        if not args:
            raise TemplateError(
                f"template line {stream.line}: missing command after |"
                if cmds
                else f"template line {stream.line}: empty command"
            )
        cmds.append(Command(args))
        for index, cmd in enumerate(cmds):
            head = cmd.args[0]
            if index > 0 and isinstance(head, Literal | Dot):
                raise TemplateError(
                    f"template line {stream.line}: non executable command in pipeline stage {index + 1}"
                )
        return cmds

    def _operand(self, tok: Token, stream: _Stream) -> Any:
        kind, text, line = tok.kind, tok.text, tok.line
        if kind == "field":
            node: Any = Field(text[1:].split("."))
        elif kind == "variable":
            name, *idents = text.split(".")
            if not self._defined(name):
                raise TemplateError(f"template line {line}: undefined variable {name!r}")
            node = Variable(name, idents)
        elif kind == "dot":
            node = Dot()
        elif kind == "string":
            node = Literal(_unquote_go(text[1:-1], line))
        elif kind == "raw":
            node = Literal(text[1:-1])
        elif kind == "char":
            body = _unquote_go(text[1:-1], line)
            if len(body) != 1:
                raise TemplateError(f"template line {line}: malformed character constant {text}")
            node = Literal(ord(body))
        elif kind == "number":
            node = Literal(_number(text, line))
        elif kind == "lparen":
            self._enter(line)
            cmds = self._commands(stream, nested=True)
            close = stream.next()
            if close is None or close.kind != "rparen":
                raise TemplateError(f"template line {line}: unclosed left paren")
            self.depth -= 1
            node = Pipe([], False, cmds, line)
        elif kind == "ident":
            if text in ("true", "false"):
                node = Literal(text == "true")
            elif text == "nil":
                node = Literal(None)
            elif text in _KEYWORDS:
                raise TemplateError(f"template line {line}: unexpected {text!r} in operand")
            elif text not in self.functions:
                raise TemplateError(f"template line {line}: function {text!r} not defined")
            else:
                node = Function(text)
        else:
            raise TemplateError(f"template line {line}: unexpected {text!r} in operand")
        follow = stream.peek()
        if follow is not None and follow.kind == "chainfield":
            stream.next()
            node = Chain(node, follow.text[1:].split("."))
        return node


class _Stream:
    def __init__(self, tokens: list[Token], line: int) -> None:
        self.tokens = tokens
        self.index = 0
        self.line = line

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def next(self) -> Token | None:
        tok = self.peek()
        self.index += 1
        if tok is not None:
            self.line = tok.line
        return tok


# ---------------------------------------------------------------------------------------------
# Values: truth, printing and comparison as Go's text/template and fmt do them.


def is_true(value: Any) -> bool:
    if value is None or value is MISSING:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | str | list | tuple | dict):
        return bool(value)
    return True


def _go_float(value: float) -> str:
    """fmt's %v for a float64: shortest digits (%g), exponent form below 1e-4 or from 1e6."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    digits = repr(value)
    mantissa, _, exp_text = digits.partition("e")
    sign = "-" if mantissa.startswith("-") else ""
    mantissa = mantissa.lstrip("-")
    whole, _, frac = mantissa.partition(".")
    frac = "" if frac == "0" else frac
    exp = int(exp_text) if exp_text else 0
    all_digits = (whole + frac).lstrip("0")
    # Decimal exponent of the first significant digit.
    point = len(whole) + exp if whole != "0" else exp - (len(frac) - len(frac.lstrip("0")))
    lead = point - 1
    significant = all_digits.rstrip("0") or "0"
    if lead < -4 or lead >= 6:
        mant = significant[0] + ("." + significant[1:] if len(significant) > 1 else "")
        return f"{sign}{mant}e{'-' if lead < 0 else '+'}{abs(lead):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{significant}"
    if point >= len(significant):
        return f"{sign}{significant}{'0' * (point - len(significant))}"
    return f"{sign}{significant[:point]}.{significant[point:]}"


def to_text(value: Any) -> str:
    """How Go's template prints a value (fmt.Fprint of the evaluated result)."""
    if value is MISSING or value is None:
        return "<no value>"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(to_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{to_text(k)}:{to_text(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, Struct):
        return (
            "{" + " ".join("[]" if v is None else to_text(v) for v in value.fields.values()) + "}"
        )
    return str(value)


def _kind(value: Any) -> str:
    if value is None or value is MISSING:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "other"


_BASIC = ("bool", "int", "float", "string")


def _eq(arg1: Any, *args: Any) -> bool:
    """Go's eq: true if arg1 equals any later argument; basic kinds must match unless nil."""
    if not args:
        raise TemplateError("error calling eq: missing argument for comparison")
    k1 = _kind(arg1)
    for arg in args:
        k2 = _kind(arg)
        if k1 != k2:
            if "nil" not in (k1, k2):
                raise TemplateError("error calling eq: incompatible types for comparison")
            truth = False
        elif k1 in _BASIC or k1 == "nil":
            truth = k1 == "nil" or arg1 == arg
        elif isinstance(arg1, Struct) and isinstance(arg, Struct):
            truth = arg1 is arg
        else:
            raise TemplateError(f"error calling eq: non-comparable type {_type_name(arg1)}")
        if truth:
            return True
    return False


def _ne(a: Any, b: Any) -> bool:
    return not _eq(a, b)


def _ordered(name: str) -> Callable[[Any, Any], bool]:
    ops = {
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
    }

    def compare(a: Any, b: Any) -> bool:
        ka, kb = _kind(a), _kind(b)
        if ka not in ("int", "float", "string") or kb not in ("int", "float", "string"):
            raise TemplateError(f"error calling {name}: invalid type for comparison")
        if ka != kb:
            raise TemplateError(f"error calling {name}: incompatible types for comparison")
        return ops[name](a, b)

    return compare


def _utf8(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _len(value: Any) -> int:
    if isinstance(value, str):
        return len(_utf8(value))
    if isinstance(value, list | tuple | dict):
        return len(value)
    raise TemplateError(f"error calling len: len of type {_type_name(value)}")


def _int_arg(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TemplateError(
            f"error calling {name}: cannot index slice/array with type {_type_name(value)}"
        )
    return value


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, list | tuple | str):
            seq = _utf8(item) if isinstance(item, str) else item
            i = _int_arg("index", key)
            if not 0 <= i < len(seq):
                raise TemplateError(f"error calling index: index out of range: {i}")
            item = seq[i]
        elif isinstance(item, dict):
            item = item.get(key, MISSING)
        else:
            raise TemplateError(f"error calling index: can't index item of type {_type_name(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if not isinstance(item, list | tuple | str):
        raise TemplateError(f"error calling slice: can't slice item of type {_type_name(item)}")
    if len(indexes) > 3 or (isinstance(item, str) and len(indexes) > 2):
        raise TemplateError(f"error calling slice: too many slice indexes: {len(indexes)}")
    seq = _utf8(item) if isinstance(item, str) else list(item)
    bounds = [_int_arg("slice", i) for i in indexes]
    for i in bounds:
        if not 0 <= i <= len(seq):
            raise TemplateError(f"error calling slice: index out of range: {i}")
    if len(bounds) >= 2 and bounds[0] > bounds[1]:
        raise TemplateError(f"error calling slice: invalid slice index: {bounds[0]} > {bounds[1]}")
    start = bounds[0] if bounds else 0
    stop = bounds[1] if len(bounds) >= 2 else len(seq)
    out = seq[start:stop]
    return out.decode("utf-8", "surrogateescape") if isinstance(out, bytes) else out


def _type_name(value: Any) -> str:
    if value is MISSING or value is None:
        return "<nil>"
    if isinstance(value, Struct):
        return value.type_name
    return {"bool": "bool", "int": "int", "float": "float64", "string": "string"}.get(
        _kind(value), type(value).__name__
    )


def _sprint(*args: Any) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append("<nil>" if arg is None or arg is MISSING else to_text(arg))
    return "".join(out)


def _sprintln(*args: Any) -> str:
    return " ".join(to_text(a) for a in args) + "\n"


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([a-zA-Z%])")


def _sprintf(fmt: str, *args: Any) -> str:
    """fmt.Sprintf for the common verbs: %s %v %d %q %t %f %g %e %x %c %%."""
    queue = list(args)
    out: list[str] = []
    pos = 0
    for match in _VERB.finditer(fmt):
        out.append(fmt[pos : match.start()])
        pos = match.end()
        flags, width, precision, verb = match.groups()
        for number in (width, precision):
            if number and number != "*" and int(number) > MAX_PRINTF_WIDTH:
                raise TemplateLimitError(
                    f"printf width or precision {number} is over the limit of {MAX_PRINTF_WIDTH}"
                )
        if verb == "%":
            out.append("%")
            continue
        if not queue:
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = queue.pop(0)
        if verb in "sv":
            text = to_text(arg)
        elif verb == "q":
            text = json.dumps(to_text(arg), ensure_ascii=False)
        elif verb == "t":
            text = to_text(arg)
        elif verb in "dxXoc" and isinstance(arg, int) and not isinstance(arg, bool):
            text = (
                chr(arg)
                if verb == "c"
                else format(arg, {"d": "d", "x": "x", "X": "X", "o": "o"}[verb])
            )
        elif verb in "feEgG" and isinstance(arg, int | float) and not isinstance(arg, bool):
            text = format(
                float(arg),
                f".{precision or 6}{verb}"
                if verb != "g"
                else (f".{precision}g" if precision else "g"),
            )
        else:
            text = f"%!{verb}({_type_name(arg)}={to_text(arg)})"
        if width and width != "*":
            text = (
                text.ljust(int(width))
                if "-" in flags
                else text.rjust(int(width), "0" if "0" in flags and verb not in "sqv" else " ")
            )
        out.append(text)
    out.append(fmt[pos:])
    if queue:
        out.append("%!(EXTRA " + ", ".join(f"{_type_name(a)}={to_text(a)}" for a in queue) + ")")
    return "".join(out)


def _json(value: Any) -> str:
    """Ollama's ``json`` function: Go's json.Marshal, which escapes <, > and & for HTML."""

    def plain(v: Any) -> Any:
        if v is MISSING:
            return None
        if isinstance(v, Struct):
            return {k: plain(x) for k, x in v.fields.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in sorted(v.items())}
        return v

    text = json.dumps(plain(value), ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, esc)
    return text


def _js(*args: Any) -> str:
    text = _sprint(*args)
    table = {
        "\\": "\\\\",
        "'": "\\'",
        '"': "\\u0022",
        "<": "\\u003C",
        ">": "\\u003E",
        "&": "\\u0026",
        "=": "\\u003D",
    }
    return "".join(table.get(c, c if c >= " " else f"\\u{ord(c):04X}") for c in text)


def _date(days: int) -> Callable[..., str]:
    def today(*_format: str) -> str:
        return (datetime.date.today() + datetime.timedelta(days=days)).isoformat()

    return today


# Functions a template may call: Go's builtins (and/or are evaluated lazily by the evaluator)
# plus the ones Ollama registers. call is left out: templates have no functions to call.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "and": lambda *a: a,  # placeholder, evaluated lazily
    "or": lambda *a: a,  # placeholder, evaluated lazily
    "not": lambda value: not is_true(value),
    "len": _len,
    "index": _index,
    "slice": _slice,
    "eq": _eq,
    "ne": _ne,
    "lt": _ordered("lt"),
    "le": _ordered("le"),
    "gt": _ordered("gt"),
    "ge": _ordered("ge"),
    "print": _sprint,
    "printf": _sprintf,
    "println": _sprintln,
    "html": lambda *a: (
        html.escape(_sprint(*a), quote=True).replace("&#x27;", "&#39;").replace("\x00", "\ufffd")
    ),
    "js": _js,
    "urlquery": lambda *a: urllib.parse.quote_plus(_sprint(*a)),
    "json": _json,
    "currentDate": _date(0),
    "yesterdayDate": _date(-1),
}
_FIXED_ARITY = {"not": 1, "len": 1, "ne": 2, "lt": 2, "le": 2, "gt": 2, "ge": 2, "json": 1}
_MIN_ARITY = {"and": 1, "or": 1, "index": 1, "slice": 1, "eq": 1, "printf": 1}


# ---------------------------------------------------------------------------------------------
# Evaluator.


class _BreakLoop(Exception):
    pass


class _ContinueLoop(Exception):
    pass


class _State:
    def __init__(self, data: Any, limits: ExecutionLimits) -> None:
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.out: list[str] = []
        self.limits = limits
        self.size = 0
        self.iterations = 0
        self.deadline = time.monotonic() + limits.seconds

    def emit(self, text: str, line: int) -> None:
        self.size += len(text)
        if self.size > self.limits.output_chars:
            raise TemplateLimitError(
                f"template line {line}: output over the limit of {self.limits.output_chars} characters"
            )
        self.out.append(text)

    def iterate(self, line: int) -> None:
        """Count one {{range}} iteration; also where a render checks its clock."""
        self.iterations += 1
        if self.iterations > self.limits.range_iterations:
            raise TemplateLimitError(
                f"template line {line}: over the limit of {self.limits.range_iterations} range "
                "iterations per render"
            )
        self.check_clock(line)

    def check_clock(self, line: int) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(
                f"template line {line}: rendering took over the limit of {self.limits.seconds:g} s"
            )

    def check_value(self, value: Any, line: int) -> Any:
        if isinstance(value, str) and len(value) > self.limits.output_chars:
            raise TemplateLimitError(
                f"template line {line}: a value over the limit of {self.limits.output_chars} characters"
            )
        return value

    def mark(self) -> int:
        return len(self.vars)

    def pop(self, mark: int) -> None:
        del self.vars[mark:]

    def lookup(self, name: str, line: int) -> Any:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise TemplateError(f"template line {line}: undefined variable {name!r}")

    def assign(self, name: str, value: Any, line: int) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise TemplateError(f"template line {line}: undefined variable {name!r}")


def _field(value: Any, name: str, line: int) -> Any:
    if isinstance(value, dict):
        return value.get(name, MISSING)
    if isinstance(value, Struct):
        if name not in value.fields:
            raise TemplateError(
                f"template line {line}: can't evaluate field {name} in type {value.type_name}"
            )
        return value.fields[name]
    if value is None or value is MISSING:
        raise TemplateError(
            f"template line {line}: nil pointer evaluating {_type_name(value)}.{name}"
        )
    raise TemplateError(
        f"template line {line}: can't evaluate field {name} in type {_type_name(value)}"
    )


def _fields(value: Any, idents: Sequence[str], line: int) -> Any:
    for name in idents:
        value = _field(value, name, line)
    return value


class Template:
    """A parsed template: ``render(data)`` returns the text; ``root`` is the parse tree."""

    def __init__(self, source: str, root: ListNode) -> None:
        self.source = source
        self.root = root

    def render(self, data: Any, limits: ExecutionLimits = DEFAULT_LIMITS) -> str:
        return execute(self.root, data, limits)

    def identifiers(self) -> set[str]:
        """Lower-cased field and variable names, as Ollama's ``Template.Vars`` collects them."""
        return {name.lower() for name in _identifiers(self.root)}


def execute(root: ListNode, data: Any, limits: ExecutionLimits = DEFAULT_LIMITS) -> str:
    state = _State(data, limits)
    _walk(state, data, root)
    return "".join(state.out)


def _walk(state: _State, dot: Any, node: Any) -> None:
    if isinstance(node, ListNode):
        for child in node.nodes:
            _walk(state, dot, child)
    elif isinstance(node, Text):
        state.emit(node.text, 0)
    elif isinstance(node, Action):
        state.check_clock(node.pipe.line)
        value = _pipe(state, dot, node.pipe)
        if not node.pipe.decls:
            state.emit(to_text(value), node.pipe.line)
    elif isinstance(node, Branch):
        mark = state.mark()
        try:
            if node.kind == "range":
                _range(state, dot, node)
            else:
                value = _pipe(state, dot, node.pipe)
                if is_true(value):
                    _walk(state, value if node.kind == "with" else dot, node.body)
                elif node.else_body is not None:
                    _walk(state, dot, node.else_body)
        finally:
            state.pop(mark)
    elif isinstance(node, Break):
        raise _BreakLoop
    elif isinstance(node, Continue):
        raise _ContinueLoop
    else:  # pragma: no cover - the parser makes no other nodes
        raise TemplateError(f"template: unknown node {node!r}")


def _range(state: _State, dot: Any, node: Branch) -> None:
    pipe = node.pipe
    value = _pipe(state, dot, Pipe([], False, pipe.cmds, pipe.line))
    if isinstance(value, dict):
        pairs: Iterator[tuple[Any, Any]] = ((k, value[k]) for k in sorted(value))
    elif isinstance(value, list | tuple):
        pairs = enumerate(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        if len(pipe.decls) > 1:
            raise TemplateError(
                f"template line {pipe.line}: can't use {value} to iterate over more than one variable"
            )
        pairs = ((i, i) for i in range(value))
    elif value is None or value is MISSING:
        pairs = iter(())
    else:
        raise TemplateError(f"template line {pipe.line}: range can't iterate over {to_text(value)}")
    ran = False
    for key, elem in pairs:
        ran = True
        state.iterate(pipe.line)
        mark = state.mark()
        if len(pipe.decls) == 1:
            _declare(state, pipe, [elem])
        elif len(pipe.decls) == 2:
            _declare(state, pipe, [key, elem])
        try:
            _walk(state, elem, node.body)
        except _ContinueLoop:
            pass
        except _BreakLoop:
            state.pop(mark)
            break
        state.pop(mark)
    if not ran and node.else_body is not None:
        _walk(state, dot, node.else_body)


def _declare(state: _State, pipe: Pipe, values: list[Any]) -> None:
    for name, value in zip(pipe.decls, values, strict=True):
        if pipe.assign:
            state.assign(name, value, pipe.line)
        else:
            state.vars.append((name, value))


def _pipe(state: _State, dot: Any, pipe: Pipe) -> Any:
    value: Any = _NO_FINAL
    for cmd in pipe.cmds:
        value = _command(state, dot, cmd, value, pipe.line)
    if pipe.decls:
        _declare(state, pipe, [value])
    return value


_NO_FINAL = object()


def _command(state: _State, dot: Any, cmd: Command, final: Any, line: int) -> Any:
    head, rest = cmd.args[0], cmd.args[1:]
    if isinstance(head, Function):
        return _call(state, dot, head.name, rest, final, line)
    if rest or final is not _NO_FINAL:
        what = {Field: "field", Variable: "variable", Chain: "field chain"}.get(
            type(head), "a non-function"
        )
        raise TemplateError(
            f"template line {line}: can't give argument to {what} (methods are not supported)"
        )
    if isinstance(head, Literal) and head.value is None:
        raise TemplateError(f"template line {line}: nil is not a command")
    return _arg(state, dot, head, line)


def _arg(state: _State, dot: Any, node: Any, line: int) -> Any:
    if isinstance(node, Field):
        return _fields(dot, node.idents, line)
    if isinstance(node, Variable):
        return _fields(state.lookup(node.name, line), node.idents, line)
    if isinstance(node, Dot):
        return dot
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Pipe):
        return _pipe(state, dot, node)
    if isinstance(node, Chain):
        return _fields(_arg(state, dot, node.node, line), node.idents, line)
    if isinstance(node, Function):
        return _call(state, dot, node.name, [], _NO_FINAL, line)
    raise TemplateError(f"template line {line}: can't evaluate {node!r}")  # pragma: no cover


def _call(state: _State, dot: Any, name: str, arg_nodes: list[Any], final: Any, line: int) -> Any:
    count = len(arg_nodes) + (final is not _NO_FINAL)
    want = _FIXED_ARITY.get(name)
    if (want is not None and count != want) or count < _MIN_ARITY.get(name, 0):
        raise TemplateError(
            f"template line {line}: wrong number of args for {name}: want {want or _MIN_ARITY[name]} got {count}"
        )

    def values() -> Iterator[Any]:
        for node in arg_nodes:
            yield _arg(state, dot, node, line)
        if final is not _NO_FINAL:
            yield final

    if name in ("and", "or"):
        # Go 1.18+: evaluation stops at the first argument that decides the result.
        result: Any = None
        for result in values():
            if is_true(result) == (name == "or"):
                return result
        return result
    try:
        result = FUNCTIONS[name](*values())
    except TemplateError as exc:
        if str(exc).startswith("template line "):
            raise
        raise type(exc)(f"template line {line}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"template line {line}: error calling {name}: {exc}") from None
    return state.check_value(result, line)


# ---------------------------------------------------------------------------------------------
# Tree helpers Ollama's template package relies on.


def _identifiers(node: Any) -> Iterator[str]:
    """Field and variable names in actions and branch pipelines (not chains), like Ollama."""
    if isinstance(node, ListNode):
        for child in node.nodes:
            yield from _identifiers(child)
    elif isinstance(node, Action):
        yield from _identifiers(node.pipe)
    elif isinstance(node, Branch):
        yield from _identifiers(node.pipe)
        yield from _identifiers(node.body)
        if node.else_body is not None:
            yield from _identifiers(node.else_body)
    elif isinstance(node, Pipe):
        for cmd in node.cmds:
            for arg in cmd.args:
                yield from _identifiers(arg)
    elif isinstance(node, Field):
        yield from node.idents
    elif isinstance(node, Variable):
        yield node.name
        yield from node.idents


def cut_after_response(root: ListNode) -> ListNode:
    """A copy of the tree with every node after the first ``.Response`` field removed.

    This is how Ollama renders the last turn of a template without ``.Messages``: the text the
    model is to write next starts right where ``{{ .Response }}`` stands.
    """
    cut = False

    def hit(node: Any) -> bool:
        nonlocal cut
        if isinstance(node, Field) and "Response" in node.idents:
            cut = True
            return False
        return cut

    def walk(node: Any) -> Any:
        if hit(node):
            return None
        if isinstance(node, ListNode):
            node.nodes = [n for n in (walk(c) for c in node.nodes) if n is not None]
        elif isinstance(node, Branch):
            node.body = walk(node.body) or ListNode([])
            if node.else_body is not None:
                node.else_body = walk(node.else_body) or ListNode([])
        elif isinstance(node, Action):
            pipe = walk(node.pipe)
            if pipe is None:
                return None
            node.pipe = pipe
        elif isinstance(node, Pipe):
            kept = []
            for cmd in node.cmds:
                args = [a for a in (walk(a) for a in cmd.args) if a is not None]
                if not args:
                    return None
                cmd.args = args
                kept.append(cmd)
            if not kept:
                return None
            node.cmds = kept
        return node

    return walk(copy.deepcopy(root)) or ListNode([])


@functools.lru_cache(maxsize=64)
def parse_template(source: str) -> Template:
    """Parse Go template text; raises :class:`TemplateError` naming the template line."""
    return Template(source, _Parser(_lex(source), FUNCTIONS).parse())

