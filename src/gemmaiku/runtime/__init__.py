"""Local inference on llama.cpp: the Generator interface, engines, prompt formats, options.

Names are imported on first use (a table, below), so that light users (the router's grammars,
the option table) do not pay for numpy and llama.cpp.
"""

from importlib import import_module
from typing import Any

# name -> the module (under gemmaiku.runtime) that defines it
EXPORTS: dict[str, str] = {
    "Chunk": "generator", "Generator": "generator", "Result": "generator", "collect": "generator",
    "generate": "generator", "ComputeSlots": "engine", "Engine": "engine",
    "GenerationOptions": "options", "options_from": "options",
}

__all__ = sorted(EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in EXPORTS:
        raise AttributeError(f"module 'gemmaiku.runtime' has no attribute {name!r}")
    return getattr(import_module(f"gemmaiku.runtime.{EXPORTS[name]}"), name)
