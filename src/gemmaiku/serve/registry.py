"""The models a server knows: GGUF engines and virtual models (a router) under Ollama-style names."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gemmaiku.errors import GemmaikuError
from gemmaiku.router.policy import RouteDecision
from gemmaiku.runtime import Engine, GenerationOptions, Generator, options_from

if TYPE_CHECKING:
    from gemmaiku.modelfile.parser import Modelfile


class ModelNotFound(GemmaikuError):
    pass


def normalize_name(name: str) -> str:
    """Ollama names carry a tag; `gemmaiku` and `gemmaiku:latest` are the same model."""
    name = name.strip()
    return name if ":" in name else f"{name}:latest"


class VirtualModel(Protocol):
    """A served name that is not a GGUF: it picks another served model for each conversation."""

    name: str
    family: str

    def choose(self, messages: Sequence[Mapping[str, str]]) -> RouteDecision: ...


# GGUF general.file_type -> Ollama's quantization_level label.
FILE_TYPE_LABELS: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 32: "BF16",
}


def gguf_details(path: Path) -> dict[str, Any]:
    """Family, parameter count and quantization of a GGUF, read from its header (no weights loaded)."""
    from gemmaiku.base.gguf_io import open_gguf

    info = open_gguf(path)
    family = str(info.metadata.get("general.architecture", "unknown"))
    parameters = sum(t.n_elements for t in info.tensors)
    file_type = info.metadata.get("general.file_type")
    return {
        "format": "gguf",
        "family": family,
        "families": [family],
        "parameter_size": _human_count(parameters),
        "quantization_level": FILE_TYPE_LABELS.get(int(file_type), str(file_type)) if file_type is not None else "unknown",
        "parent_model": "",
        "context_length": int(info.metadata.get(f"{family}.context_length") or 0),
        "parameter_count": parameters,
    }


def _human_count(count: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= size:
            return f"{count / size:.2f}".rstrip("0").rstrip(".") + unit
    return str(count)


@dataclass
class ServedModel:
    """A model served under a name, with its Modelfile defaults: a GGUF (an Engine), a guarded
    one, or a remote model; anything that implements the Generator protocol."""

    name: str
    path: Path
    engine: Generator
    system: str | None = None
    template: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    license: list[str] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    modified_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _details: dict[str, Any] | None = None
    _digest: str | None = None

    @property
    def details(self) -> dict[str, Any]:
        if self._details is None:
            self._details = gguf_details(self.path)
        return self._details

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    @property
    def digest(self) -> str:
        if self._digest is None:
            from gemmaiku.paths import file_sha256

            self._digest = file_sha256(self.path)
        return self._digest

    def modelfile(self) -> Modelfile:
        """This model as a Modelfile: FROM its GGUF, its TEMPLATE, SYSTEM, PARAMETERs, MESSAGEs
        and LICENSE."""
        from gemmaiku.modelfile.parser import Modelfile

        return Modelfile(from_=str(self.path), parameters=dict(self.parameters), template=self.template,
                         system=self.system, license=list(self.license), messages=[dict(m) for m in self.messages])

    def modelfile_text(self) -> str:
        """/api/show's `modelfile`: quoted so that it parses back (``Modelfile.to_text``)."""
        return self.modelfile().to_text()


def parameter_lines(parameters: Mapping[str, Any]) -> list[str]:
    lines = []
    for key, value in parameters.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f'PARAMETER {key} "{item}"' if isinstance(item, str) else f"PARAMETER {key} {item}")
    return lines


class Registry:
    """Thread-safe name -> model table."""

    def __init__(self, allowed_dirs: Sequence[Path] = ()) -> None:
        self._models: dict[str, ServedModel | VirtualModel] = {}
        self._lock = threading.Lock()
        self.allowed_dirs = [Path(d).resolve() for d in allowed_dirs]
        # Applied to each model added with an engine of its own (serve --parallel and --queue).
        self.configure: Callable[[ServedModel], Any] | None = None

    def names(self) -> list[str]:
        with self._lock:
            return list(self._models)

    def items(self) -> list[tuple[str, ServedModel | VirtualModel]]:
        with self._lock:
            return list(self._models.items())

    def get(self, name: str) -> ServedModel | VirtualModel:
        with self._lock:
            model = self._models.get(normalize_name(name))
        if model is None:
            raise ModelNotFound(f"model '{name}' not found")
        return model

    def get_served(self, name: str) -> ServedModel:
        model = self.get(name)
        if not isinstance(model, ServedModel):
            raise ModelNotFound(f"model '{name}' is a virtual model with no weights of its own")
        return model

    def add(self, model: ServedModel | VirtualModel) -> None:
        with self._lock:
            model.name = normalize_name(model.name)
            fresh = isinstance(model, ServedModel) and not any(
                isinstance(m, ServedModel) and m.engine is model.engine for m in self._models.values())
            self._models[model.name] = model
        if fresh and self.configure is not None and isinstance(model, ServedModel):
            self.configure(model)

    def remove(self, name: str) -> None:
        with self._lock:
            model = self._models.pop(normalize_name(name), None)
        if model is None:
            raise ModelNotFound(f"model '{name}' not found")
        if isinstance(model, ServedModel) and not any(
            isinstance(m, ServedModel) and m.engine is model.engine for _, m in self.items()
        ):
            model.engine.unload()

    def check_allowed(self, path: Path) -> Path:
        """A path named by a client must lie inside one of the server's model folders."""
        resolved = path.resolve()
        if not any(resolved.is_relative_to(d) for d in self.allowed_dirs):
            raise GemmaikuError(
                f"FROM {path} is outside the server's model folders (start the server with --models-dir)"
            )
        return resolved


def served_from_gguf(name: str, path: Path, *, options: GenerationOptions | None = None,
                     system: str | None = None, template: str | None = None,
                     parameters: Mapping[str, Any] | None = None, n_threads: int | None = None,
                     license: Sequence[str] = (), messages: Sequence[Mapping[str, str]] = ()) -> ServedModel:
    parameters = dict(parameters or {})
    engine = Engine(path, options=options or options_from(parameters), template=template, n_threads=n_threads)
    return ServedModel(
        name=name, path=Path(path), engine=engine, system=system, template=template,
        parameters=parameters, license=list(license), messages=[dict(m) for m in messages],
    )


def served_from_modelfile(name: str, modelfile_path: Path, n_threads: int | None = None) -> ServedModel:
    from gemmaiku.modelfile import load_modelfile

    modelfile = load_modelfile(modelfile_path)
    return served_from_modelfile_object(name, modelfile, n_threads=n_threads)


def served_from_modelfile_object(name: str, modelfile: Any, n_threads: int | None = None) -> ServedModel:
    from gemmaiku.serve.checks import refuse_unsupported

    refuse_unsupported(modelfile)  # ADAPTER, DRAFT...: refused rather than served without them
    engine = Engine.from_modelfile(modelfile, n_threads=n_threads)
    return ServedModel(
        name=name, path=engine.path, engine=engine, system=modelfile.system, template=modelfile.template,
        parameters=dict(modelfile.parameters), license=list(modelfile.license or []),
        messages=[dict(m) for m in (modelfile.messages or [])],
    )
