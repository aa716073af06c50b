"""Ollama- and OpenAI-compatible HTTP server on llama.cpp."""

from gemmaiku.serve.app import ServeSettings, create_app
from gemmaiku.serve.registry import Registry, RouteDecision, ServedModel, VirtualModel

__all__ = ["Registry", "RouteDecision", "ServeSettings", "ServedModel", "VirtualModel", "create_app"]
