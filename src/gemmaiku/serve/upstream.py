"""Serve a model that lives on another server (any Ollama or OpenAI-compatible URL) under a local
name, so the router can send prose to a bigger model elsewhere: `prose=ollama:http://host:11434/llama3.2`.

The model's generator is runtime.remote's client: its stream is relayed chunk by chunk, and a
format the request (or the router, for a background task) asks for is passed on as the remote
API's own ``format`` / ``response_format``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemmaiku.runtime.remote import remote_generator
from gemmaiku.serve.registry import ServedModel


@dataclass
class UpstreamModel(ServedModel):
    """A ServedModel whose generator is a remote server; no local file behind it."""

    spec: str = ""

    @property
    def details(self) -> dict[str, Any]:
        return {"format": "upstream", "family": "upstream", "families": ["upstream"], "parameter_size": "",
                "quantization_level": "", "parent_model": self.spec, "context_length": 0, "parameter_count": 0}

    @property
    def size(self) -> int:
        return 0

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.spec.encode()).hexdigest()

    def modelfile_text(self) -> str:
        return f"# upstream {self.spec}\n"


def served_upstream(name: str, spec: str, api_key: str | None = None,
                    parameters: Mapping[str, Any] | None = None) -> UpstreamModel:
    generator = remote_generator(spec, api_key=api_key, options=parameters, what="upstream")
    return UpstreamModel(name=name, path=Path(spec), engine=generator, parameters=dict(parameters or {}), spec=spec)
