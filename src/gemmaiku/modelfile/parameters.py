"""Modelfile PARAMETER values: Ollama's option table (:mod:`gemmaiku.options`) read and written
as Modelfile text, the way ``ollama create`` converts them (Go's strconv).

Ollama itself checks only types; the table's ranges are where a value means something to the
sampler, so ``gemmaiku modelfile lint`` can flag ``temperature -1`` or ``top_p 5``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from gemmaiku.errors import GemmaikuError
from gemmaiku.options import CURRENT, OPTIONS, TYPE_NAMES, Option

# The Modelfile's name for the table and its rows.
PARAMETERS: dict[str, Option] = OPTIONS
Parameter = Option

__all__ = ["CURRENT", "PARAMETERS", "Parameter", "format_value", "parse_value"]

# Go's strconv: ParseInt base 10, ParseFloat (decimal, inf, nan), ParseBool.
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(
    r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)", re.IGNORECASE
)
_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


def parse_value(name: str, text: str) -> Any:
    """Convert a Modelfile PARAMETER value to its type, as ``ollama create`` does.

    Unknown names keep their text. Raises :class:`GemmaikuError` when a known option's value
    is not of its type (Ollama refuses the Modelfile then).
    """
    spec = PARAMETERS.get(name)
    if spec is None:
        return text
    if spec.type == "list":
        return [text]
    if spec.type == "int" and _INT.fullmatch(text):
        value = int(text)
        if -(2**63) <= value < 2**63:
            return value
    if spec.type == "float" and _FLOAT.fullmatch(text):
        return float(text)
    if spec.type == "bool" and text in _BOOLS:
        return _BOOLS[text]
    raise GemmaikuError(f"{name} must be {TYPE_NAMES[spec.type]}, not {text!r}")


def format_value(value: Any) -> str:
    """The Modelfile text of a typed value (the inverse of :func:`parse_value`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    return str(value)
