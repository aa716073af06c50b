"""One in-memory form for a LoRA adapter, whichever format it was read from.

Every adapter becomes :class:`LoraModule` rows with A as (r, in), B as (out, r), one float scale
and, for DoRA, a magnitude vector m (out,). Module names are *canonical*: the path below the text
model, e.g. ``layers.3.self_attn.q_proj``, whatever prefix the file used. Fusing one row:

    W' = W + scale * B @ A                        (LoRA)
    W' = m / ||W + scale * B @ A||_row * (...)    (DoRA: each output row rescaled to norm m)

both computed in float32, in the same order as mlx_lm's LoRALinear/DoRALinear.fuse.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gemmaiku.errors import GemmaikuError

if TYPE_CHECKING:
    import torch

CONFIG_FILE = "adapter_config.json"
# Prefixes in front of the text model's module paths, longest first. Base checkpoints, peft keys
# (after peft's own "base_model.model.") and mlx_lm keys all reduce to "layers.N.<module>".
MODEL_PREFIXES = ("model.language_model.", "language_model.model.", "model.")
LAYER_RE = re.compile(r"^layers\.(\d+)\.(.+)$")
# Modules a LoRA here may not touch: Gemma ties lm_head to the embeddings.
UNSUPPORTED_MODULES = {
    "embed_tokens": "the embeddings",
    "lm_head": "lm_head (tied to the embeddings in Gemma)",
}


@dataclass(frozen=True)
class LoraModule:
    """One low-rank update of a linear weight W (out, in), kept in float32."""

    module: str  # canonical path, e.g. "layers.3.self_attn.q_proj"
    a: torch.Tensor  # (r, in)
    b: torch.Tensor  # (out, r)
    scale: float
    magnitude: torch.Tensor | None = None  # DoRA's m (out,); None for plain LoRA

    @property
    def rank(self) -> int:
        return int(self.a.shape[0])

    def delta(self) -> torch.Tensor:
        # mlx_lm's order of operations: scale B, then multiply.
        return (self.scale * self.b) @ self.a  # (out, in)

    def fuse(self, weight: torch.Tensor) -> torch.Tensor:
        """The fused float32 weight from the base weight (out, in)."""
        import torch

        fused = weight.to(torch.float32) + self.delta()
        if self.magnitude is None:
            return fused
        return (self.magnitude / torch.linalg.norm(fused, dim=1))[:, None] * fused


@dataclass
class Adapter:
    """A LoRA adapter in memory, whatever format it came from."""

    format: str
    path: Path
    modules: dict[str, LoraModule]
    base_model: str | None = None  # what the adapter says it was trained on (name or path)
    model_type: str | None = None  # declared architecture, when the adapter records one
    num_layers: int | None = None  # mlx_lm: only the last num_layers blocks may be adapted
    dropout: float = 0.0
    config: dict = field(default_factory=dict)

    @property
    def dora(self) -> bool:
        return any(m.magnitude is not None for m in self.modules.values())

    def layers(self) -> set[int]:
        return {layer for name in self.modules if (layer := layer_index(name)) is not None}


def canonical_module(name: str) -> str:
    """``model.layers.3.self_attn.q_proj`` -> ``layers.3.self_attn.q_proj`` (any known prefix)."""
    for prefix in MODEL_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def layer_index(module: str) -> int | None:
    match = LAYER_RE.match(module)
    return int(match.group(1)) if match else None


def relative_module(module: str) -> str:
    """``layers.3.self_attn.q_proj`` -> ``self_attn.q_proj`` (the name inside a block)."""
    match = LAYER_RE.match(module)
    return match.group(2) if match else module


def module_order(module: str) -> tuple[int, str]:
    index = layer_index(module)
    return (-1 if index is None else index, module)


def load_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GemmaikuError(
            f"no {path.name} in {path.parent} (give an adapter folder from peft or mlx_lm)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GemmaikuError(
            f"cannot read {path}: {exc} (the adapter config must be valid JSON)"
        ) from None
    if not isinstance(data, dict):
        raise GemmaikuError(f"{path} is not a JSON object (the adapter config must be one)")
    return data


def load_parts(
    path: Path, suffixes: dict[str, str], refused: dict[str, str]
) -> dict[str, dict[str, torch.Tensor]]:
    """Read a safetensors file into {module name in the file: {"a"|"b"|"m": float32 tensor}}.

    ``suffixes`` maps tensor-name endings to parts; ``refused`` maps name fragments to the reason
    they cannot be fused (fragments starting with "." must end the name).
    """
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(path)
    except FileNotFoundError:
        raise GemmaikuError(
            f"no {path.name} in {path.parent} (the adapter's weights are missing)"
        ) from None
    except (OSError, SafetensorError) as exc:
        raise GemmaikuError(
            f"cannot read {path}: {exc} (is it a complete safetensors file?)"
        ) from None
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in tensors.items():
        for fragment, why in refused.items():
            if key.endswith(fragment) if fragment.startswith(".") else fragment in key:
                raise GemmaikuError(f"cannot fuse {path.parent}: it contains {why} ({key})")
        suffix = next((s for s in suffixes if key.endswith(s)), None)
        if suffix is None:
            expected = " or ".join(suffixes)
            raise GemmaikuError(
                f"cannot fuse {path.parent}: unknown tensor {key} (expected names ending in {expected})"
            )
        parts.setdefault(key[: -len(suffix)], {})[suffixes[suffix]] = tensor.to(torch.float32)
    return parts


def make_module(
    module: str, part: dict[str, torch.Tensor], scale: float, dora: bool, path: Path
) -> LoraModule:
    """Check one module's tensors (A (r, in), B (out, r), m (out,) for DoRA) and build its row."""
    leaf = module.rsplit(".", 1)[-1]
    if leaf in UNSUPPORTED_MODULES:
        raise GemmaikuError(
            f"cannot fuse {path}: it adapts {UNSUPPORTED_MODULES[leaf]} ({module}); "
            "only the linear projections inside the blocks are supported"
        )
    if "a" not in part or "b" not in part:
        missing = "B" if "a" in part else "A"
        raise GemmaikuError(
            f"cannot fuse {path}: {module} has no LoRA {missing} tensor (the adapter file is incomplete)"
        )
    a, b, m = part["a"], part["b"], part.get("m")
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
        raise GemmaikuError(
            f"cannot fuse {path}: {module} has A {tuple(a.shape)} and B {tuple(b.shape)}, which are not "
            "a LoRA pair (A must be (r, in) and B (out, r)); the adapter file is damaged"
        )
    if dora != (m is not None):
        said = "is DoRA" if dora else "is plain LoRA"
        has = "no magnitude vector" if m is None else "a DoRA magnitude vector"
        raise GemmaikuError(
            f"cannot fuse {path}: its config says it {said} but {module} has {has}; the config and weights disagree"
        )
    if m is not None and tuple(m.shape) != (b.shape[0],):
        raise GemmaikuError(
            f"cannot fuse {path}: {module} has a magnitude vector of shape {tuple(m.shape)}, not ({b.shape[0]},)"
        )
    return LoraModule(
        module, a.contiguous(), b.contiguous(), scale, None if m is None else m.contiguous()
    )


def pad_rank(lora: LoraModule, rank: int, fold_scale: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, B) padded with zero components to ``rank``; B times the scale when ``fold_scale``."""
    import torch

    a, b = lora.a, (lora.scale * lora.b if fold_scale else lora.b)
    pad = rank - lora.rank
    if pad:
        a = torch.cat([a, a.new_zeros(pad, a.shape[1])])
        b = torch.cat([b, b.new_zeros(b.shape[0], pad)], dim=1)
    return a, b


def trim_zero_rank(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop trailing rank components that are zero in both A and B: padding, no information."""
    rank = a.shape[0]
    while rank > 1 and not a[rank - 1].any() and not b[:, rank - 1].any():
        rank -= 1
    return a[:rank], b[:, :rank]
