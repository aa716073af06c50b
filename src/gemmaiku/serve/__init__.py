"""Ollama- and OpenAI-compatible HTTP server on llama.cpp.

Names are imported on first use (a table, below): importing a submodule such as
``gemmaiku.serve.webui`` does not load FastAPI.
"""

from importlib import import_module
from typing import Any

# name -> the module (under gemmaiku.serve) that defines it
EXPORTS: dict[str, str] = {
    "ServeSettings": "app", "create_app": "app", "Registry": "registry", "ServedModel": "registry",
    "VirtualModel": "registry", "RouteDecision": "registry",
}

__all__ = sorted(EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in EXPORTS:
        raise AttributeError(f"module 'gemmaiku.serve' has no attribute {name!r}")
    return getattr(import_module(f"gemmaiku.serve.{EXPORTS[name]}"), name)
