"""LoRA adapter folders (peft and mlx_lm) read into one form, and written back out.

Both formats store the same thing, a low-rank update per linear layer, in different layouts:

| format | files | A | B | update |
|---|---|---|---|---|
| peft | adapter_config.json (peft_type) + adapter_model.safetensors | lora_A.weight (r, in) | lora_B.weight (out, r) | (lora_alpha / r) * B @ A |
| mlx | adapter_config.json (lora_parameters) + adapters.safetensors | lora_a (in, r) | lora_b (r, out) | scale * lora_b.T @ lora_a.T |

peft's scale is lora_alpha / sqrt(r) with use_rslora, and rank_pattern / alpha_pattern change r and
lora_alpha per module. Every adapter is read into :class:`LoraModule` rows (A as (r, in), B as
(out, r), one float scale), so fusing and converting never look at the format again. Module names
are kept *canonical*: the path below the text model, e.g. ``layers.3.self_attn.q_proj``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemmaiku.errors import GemmaikuError

if TYPE_CHECKING:
    import torch

CONFIG_FILE = "adapter_config.json"

# Prefixes in front of the text model's module paths, longest first. Base checkpoints, peft keys
# (after peft's own "base_model.model.") and mlx_lm keys all reduce to "layers.N.<module>".
MODEL_PREFIXES = ("model.language_model.", "language_model.model.", "model.")
PEFT_PREFIX = "base_model.model."
LAYER_RE = re.compile(r"^layers\.(\d+)\.(.+)$")

# peft init methods that rewrite the base weights when the adapter is created: such an adapter
# only fits the rewritten base, not the original one we fuse into.
PEFT_BASE_REWRITING_INITS = ("pissa", "corda", "olora", "mica", "loftq", "lora_ga")

# peft config fields whose non-default value changes what the adapter computes beyond
# W + scale * B @ A. field -> (is it set?, why we refuse)
PEFT_REFUSED_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "use_dora": (
        bool,
        "it is a DoRA adapter (use_dora: true); DoRA fusion is not supported, merge it with peft's merge_and_unload()",
    ),
    "bias": (
        lambda v: v not in (None, "none"),
        'it trains biases (bias: {value!r}); only bias: "none" adapters can be fused',
    ),
    "lora_bias": (
        bool,
        "it has a bias on lora_B (lora_bias: true), and Gemma's projections have no bias to add it to",
    ),
    "modules_to_save": (bool, "it saves whole modules ({value}); only LoRA updates can be fused"),
    "trainable_token_indices": (
        bool,
        "it trains token embeddings (trainable_token_indices); only LoRA updates on linear layers can be fused",
    ),
    "target_parameters": (
        bool,
        "it targets raw parameters (target_parameters); only LoRA on linear modules can be fused",
    ),
    "layer_replication": (
        bool,
        "it replicates layers (layer_replication), so its model is not this base",
    ),
    "alora_invocation_tokens": (
        bool,
        "it is an activated LoRA (alora_invocation_tokens), which only applies after its invocation tokens and cannot be merged",
    ),
    "use_qalora": (bool, "it is a QA-LoRA adapter (use_qalora); only plain LoRA can be fused"),
    "use_bdlora": (bool, "it is a block-diagonal LoRA (use_bdlora); only plain LoRA can be fused"),
    "arrow_config": (bool, "it is an Arrow adapter (arrow_config); only plain LoRA can be fused"),
    "velora_config": (bool, "it is a VeLoRA adapter (velora_config); only plain LoRA can be fused"),
    "monteclora_config": (
        bool,
        "it is a MonteCLoRA adapter (monteclora_config); only plain LoRA can be fused",
    ),
    "kasa_config": (bool, "it is a KaSA adapter (kasa_config); only plain LoRA can be fused"),
    "init_lora_weights": (
        lambda v: isinstance(v, str) and v.lower().startswith(PEFT_BASE_REWRITING_INITS),
        "it was initialised with {value!r}, which rewrites the base weights; re-save it with peft's "
        "save_pretrained(path_initial_model_for_weight_conversion=...) to get a plain LoRA",
    ),
}

# peft tensor-name endings we understand, and the ones we refuse with a reason.
PEFT_TENSOR_SUFFIXES = {".lora_A.weight": "a", ".lora_B.weight": "b"}
PEFT_REFUSED_TENSORS = {
    "lora_magnitude_vector": "DoRA magnitude vectors (DoRA fusion is not supported)",
    ".lora_B.bias": "a lora_B bias (lora_bias), which Gemma's projections have nowhere to go",
    "lora_embedding_A": "a LoRA on the embeddings (only linear projections are supported)",
    "lora_embedding_B": "a LoRA on the embeddings (only linear projections are supported)",
    "modules_to_save": "whole saved modules (modules_to_save)",
    "trainable_tokens": "trainable token embeddings",
}
MLX_TENSOR_SUFFIXES = {".lora_a": "a", ".lora_b": "b"}
MLX_REFUSED_TENSORS = {".m": "DoRA magnitude vectors (fine_tune_type dora is not supported)"}
# mlx_lm's fine_tune_type -> None if fusable, else why not.
MLX_FINE_TUNE_TYPES: dict[str, str | None] = {
    "lora": None,
    "dora": "it is a DoRA adapter (fine_tune_type: dora); DoRA fusion is not supported, fuse it with mlx_lm.fuse",
    "full": "it is a full fine-tune (fine_tune_type: full): its adapters.safetensors holds whole weights, not a LoRA update; load those weights as the model instead",
}
# Modules a LoRA here may not touch: Gemma ties lm_head to the embeddings.
UNSUPPORTED_MODULES = {
    "embed_tokens": "the embeddings",
    "lm_head": "lm_head (tied to the embeddings in Gemma)",
}


@dataclass(frozen=True)
class LoraModule:
    """One low-rank update: W (out, in) += scale * B @ A, kept in float32."""

    module: str  # canonical path, e.g. "layers.3.self_attn.q_proj"
    a: torch.Tensor  # (r, in)
    b: torch.Tensor  # (out, r)
    scale: float

    @property
    def rank(self) -> int:
        return int(self.a.shape[0])

    def delta(self) -> torch.Tensor:
        # The same order of operations as mlx_lm's LoRALinear.fuse: scale B, then multiply.
        return (self.scale * self.b) @ self.a  # (out, in)


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


def _load_json(path: Path) -> dict:
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


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except FileNotFoundError:
        raise GemmaikuError(
            f"no {path.name} in {path.parent} (the adapter's weights are missing)"
        ) from None
    except (OSError, SafetensorError) as exc:
        raise GemmaikuError(
            f"cannot read {path}: {exc} (is it a complete safetensors file?)"
        ) from None


def _split_tensor_name(
    key: str, suffixes: dict[str, str], refused: dict[str, str], path: Path
) -> tuple[str, str]:
    for marker, why in refused.items():
        # ".x" markers name a tensor's ending; others may sit anywhere in the name.
        if key.endswith(marker) if marker.startswith(".") else marker in key:
            raise GemmaikuError(f"cannot fuse {path}: it contains {why} ({key})")
    for suffix, part in suffixes.items():
        if key.endswith(suffix):
            return key[: -len(suffix)], part
    raise GemmaikuError(
        f"cannot fuse {path}: unknown tensor {key} (expected names ending in {' or '.join(suffixes)})"
    )


def _pair_up(parts: dict[str, dict[str, torch.Tensor]], path: Path) -> None:
    for module, pair in parts.items():
        if set(pair) != {"a", "b"}:
            missing = "B" if "a" in pair else "A"
            raise GemmaikuError(
                f"cannot fuse {path}: {module} has no LoRA {missing} tensor (the adapter file is incomplete)"
            )


def _check_module_kind(module: str, path: Path) -> None:
    leaf = module.rsplit(".", 1)[-1]
    if leaf in UNSUPPORTED_MODULES:
        raise GemmaikuError(
            f"cannot fuse {path}: it adapts {UNSUPPORTED_MODULES[leaf]} ({module}); only the linear projections inside the blocks are supported"
        )


def _check_pair_shapes(module: str, a: torch.Tensor, b: torch.Tensor, path: Path) -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
        raise GemmaikuError(
            f"cannot fuse {path}: {module} has A {tuple(a.shape)} and B {tuple(b.shape)}, which are not "
            "a LoRA pair (A must be (r, in) and B (out, r)); the adapter file is damaged"
        )


# ---------------------------------------------------------------------------------------------
# peft


def peft_pattern_key(patterns: dict, module_key: str) -> str | None:
    """The first rank_pattern / alpha_pattern key that names ``module_key``, as peft matches it.

    peft tries each key in order as a regular expression for the whole name or a dotted suffix
    of it (``re.match(rf"(.*\\.)?({key})$", name)``); the first match wins.
    """
    for key in patterns:
        if re.match(rf"(.*\.)?({key})$", module_key):
            return key
    return None


def _peft_layer_index(config: dict, module_key: str) -> int | None:
    pattern = config.get("layers_pattern")
    if not pattern:
        match = re.match(r".*?\.[^.]*\.(?P<idx>\d+)\.", module_key)
    else:
        match = None
        for name in [pattern] if isinstance(pattern, str) else pattern:
            match = re.match(rf"(?:^|.*?\.){name}\.(?P<idx>\d+)\.", module_key)
            if match:
                break
    return int(match.group("idx")) if match else None


def peft_targets(config: dict, module_key: str) -> bool:
    """Whether peft would put a LoRA on ``module_key`` under this config (its targeting rules)."""
    exclude = config.get("exclude_modules")
    if exclude:
        if isinstance(exclude, str):
            if re.fullmatch(exclude, module_key):
                return False
        elif module_key in exclude or any(module_key.endswith(f".{key}") for key in exclude):
            return False
    targets = config.get("target_modules")
    if targets is None or targets == "all-linear":
        return True
    if isinstance(targets, str):
        return re.fullmatch(targets, module_key) is not None
    if module_key in targets:
        return True
    if not any(module_key.endswith(f".{key}") for key in targets):
        return False
    wanted = config.get("layers_to_transform")
    if wanted is None or wanted == []:
        return True
    index = _peft_layer_index(config, module_key)
    if index is None:
        return False
    return index == wanted if isinstance(wanted, int) else index in wanted


def peft_scale(config: dict, module_key: str, rank: int) -> float:
    """lora_alpha / r (lora_alpha / sqrt(r) with use_rslora), with rank/alpha patterns applied."""
    alpha_patterns = config.get("alpha_pattern") or {}
    key = peft_pattern_key(alpha_patterns, module_key)
    alpha = alpha_patterns[key] if key is not None else config.get("lora_alpha", 8)
    return alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank


def peft_rank(config: dict, module_key: str) -> int:
    rank_patterns = config.get("rank_pattern") or {}
    key = peft_pattern_key(rank_patterns, module_key)
    return int(rank_patterns[key] if key is not None else config.get("r", 8))


def read_peft(path: Path, config: dict) -> Adapter:
    if config.get("peft_type") != "LORA":
        raise GemmaikuError(
            f"cannot fuse {path}: it is a peft {config.get('peft_type')} adapter, and only LORA adapters can be fused"
        )
    task = config.get("task_type")
    if task not in (None, "CAUSAL_LM"):
        raise GemmaikuError(
            f"cannot fuse {path}: it was made for task {task}, not CAUSAL_LM (a text-generation adapter is needed)"
        )
    for name, (is_set, why) in PEFT_REFUSED_FIELDS.items():
        value = config.get(name)
        if value is not None and is_set(value):
            raise GemmaikuError(f"cannot fuse {path}: {why.format(value=value)}")
    weights = path / "adapter_model.safetensors"
    if not weights.is_file() and (path / "adapter_model.bin").is_file():
        raise GemmaikuError(
            f"cannot fuse {path}: it has adapter_model.bin only; re-save it with safe_serialization=True to get adapter_model.safetensors"
        )
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in _load_tensors(weights).items():
        name, part = _split_tensor_name(key, PEFT_TENSOR_SUFFIXES, PEFT_REFUSED_TENSORS, path)
        module_key = name.removeprefix(PEFT_PREFIX)  # peft's own name for the module
        parts.setdefault(module_key, {})[part] = tensor
    _pair_up(parts, path)
    modules = {}
    for module_key, pair in parts.items():
        module = canonical_module(module_key)
        _check_module_kind(module, path)
        a, b = pair["a"], pair["b"]
        _check_pair_shapes(module, a, b, path)
        if not peft_targets(config, module_key):
            raise GemmaikuError(
                f"cannot fuse {path}: it has weights for {module_key}, which its config's target_modules do not target (peft would ignore them); the config and weights disagree"
            )
        rank = peft_rank(config, module_key)
        if a.shape[0] != rank:
            raise GemmaikuError(
                f"cannot fuse {path}: {module_key} has rank {a.shape[0]} but its config (r / rank_pattern) says {rank}, so its scale would be wrong"
            )
        # fan_in_fan_out is ignored as peft ignores it for torch.nn.Linear, which all of Gemma's
        # projections are: peft resets it to False with a warning.
        modules[module] = LoraModule(
            module, _f32(a).contiguous(), _f32(b).contiguous(), peft_scale(config, module_key, rank)
        )
    return Adapter(
        format="peft",
        path=path,
        modules=modules,
        base_model=config.get("base_model_name_or_path"),
        dropout=float(config.get("lora_dropout") or 0.0),
        config=config,
    )


def write_peft(adapter: Adapter, out: Path) -> None:
    """Write a peft LoRA folder that fuses (ours or peft's merge) to the same weights."""
    from safetensors.torch import save_file

    modules = sorted(adapter.modules.values(), key=lambda m: _module_order(m.module))
    ranks = {m.rank for m in modules}
    scales = {m.scale for m in modules}
    rank = max(ranks)
    # One shared scale we can state exactly as lora_alpha / r keeps B as it is; otherwise each
    # module's scale is folded into its B and lora_alpha = r makes peft's scale exactly 1.
    (scale,) = scales if len(scales) == 1 else (None,)
    keep_scale = scale is not None and len(ranks) == 1 and (scale * rank) / rank == scale
    tensors = {}
    rank_pattern, alpha_pattern = {}, {}
    for m in modules:
        key = PEFT_PREFIX + "model." + m.module
        tensors[f"{key}.lora_A.weight"] = m.a.contiguous()
        tensors[f"{key}.lora_B.weight"] = (m.b if keep_scale else m.scale * m.b).contiguous()
        if m.rank != rank:
            rank_pattern[re.escape("model." + m.module)] = m.rank
            alpha_pattern[re.escape("model." + m.module)] = m.rank
    layers = sorted(adapter.layers())
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": adapter.base_model,
        "r": rank,
        "lora_alpha": scale * rank if keep_scale else rank,
        "lora_dropout": adapter.dropout,
        "use_rslora": False,
        "use_dora": False,
        "fan_in_fan_out": False,
        "bias": "none",
        "target_modules": sorted({_relative_module(m.module) for m in modules}),
        "layers_to_transform": layers or None,
        "layers_pattern": "layers" if layers else None,
        "rank_pattern": rank_pattern,
        "alpha_pattern": alpha_pattern,
        "modules_to_save": None,
        "init_lora_weights": True,
        "inference_mode": True,
    }
    save_file(tensors, out / "adapter_model.safetensors", metadata={"format": "pt"})
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# mlx_lm


def read_mlx(path: Path, config: dict) -> Adapter:
    kind = config.get("fine_tune_type", "lora")
    if kind not in MLX_FINE_TUNE_TYPES:
        raise GemmaikuError(f"cannot fuse {path}: unknown fine_tune_type {kind!r} (expected lora)")
    if why := MLX_FINE_TUNE_TYPES[kind]:
        raise GemmaikuError(f"cannot fuse {path}: {why}")
    params = config.get("lora_parameters")
    if not isinstance(params, dict) or "scale" not in params or "rank" not in params:
        raise GemmaikuError(
            f"cannot fuse {path}: its adapter_config.json has no lora_parameters with rank and scale (mlx_lm writes them; restore the config)"
        )
    keys = params.get("keys")
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in _load_tensors(path / "adapters.safetensors").items():
        name, part = _split_tensor_name(key, MLX_TENSOR_SUFFIXES, MLX_REFUSED_TENSORS, path)
        parts.setdefault(name, {})[part] = tensor
    _pair_up(parts, path)
    modules = {}
    for name, pair in parts.items():
        module = canonical_module(name)
        _check_module_kind(module, path)
        a, b = _f32(pair["a"]).T, _f32(pair["b"]).T  # (r, in), (out, r)
        _check_pair_shapes(module, a, b, path)
        if a.shape[0] != params["rank"]:
            raise GemmaikuError(
                f"cannot fuse {path}: {name} has rank {a.shape[0]} but lora_parameters.rank is {params['rank']} (mlx_lm could not load it either)"
            )
        relative = _relative_module(module)
        if keys is not None and relative not in keys:
            raise GemmaikuError(
                f"cannot fuse {path}: it has weights for {name}, but lora_parameters.keys does not list {relative}"
            )
        a, b = _trim_zero_rank(a, b)
        modules[module] = LoraModule(module, a.contiguous(), b.contiguous(), float(params["scale"]))
    return Adapter(
        format="mlx",
        path=path,
        modules=modules,
        base_model=config.get("model"),
        model_type=config.get("model_type"),
        num_layers=config.get("num_layers"),
        dropout=float(params.get("dropout") or 0.0),
        config=config,
    )


def mlx_first_layer(num_layers: int | None, total: int) -> int:
    """The first block mlx_lm adapts: the last num_layers blocks; -1, 0 or too many means all."""
    if num_layers is None or num_layers <= 0 or num_layers >= total:
        return 0
    return total - num_layers


def write_mlx(adapter: Adapter, out: Path, total_layers: int | None) -> None:
    """Write an mlx_lm adapter folder (one rank, one scale) that fuses to the same weights."""
    from safetensors.torch import save_file

    modules = sorted(adapter.modules.values(), key=lambda m: _module_order(m.module))
    outside = [m.module for m in modules if layer_index(m.module) is None]
    if outside:
        raise GemmaikuError(
            f"cannot write {outside[0]} as an mlx_lm adapter: mlx_lm adapts modules inside the blocks only"
        )
    rank = max(m.rank for m in modules)
    scales = {m.scale for m in modules}
    # mlx_lm has one rank and one scale: smaller ranks are padded with zeros (read_mlx trims them)
    # and differing scales are folded into lora_b under scale 1.0.
    fold = len(scales) > 1
    scale = 1.0 if fold else scales.pop()
    first = min(adapter.layers())
    if first == 0:
        num_layers = -1
    elif total_layers is None:
        raise GemmaikuError(
            f"the adapter starts at block {first}, and mlx_lm counts blocks from the end: give --base so the number of blocks is known"
        )
    else:
        num_layers = total_layers - first
    tensors = {}
    for m in modules:
        a, b = m.a, (m.scale * m.b if fold else m.b)
        pad = rank - m.rank
        if pad:
            a = _pad_rows(a, pad)
            b = _pad_rows(b.T, pad).T
        tensors[f"model.{m.module}.lora_a"] = a.T.contiguous()  # (in, r)
        tensors[f"model.{m.module}.lora_b"] = b.T.contiguous()  # (r, out)
    config = {
        "fine_tune_type": "lora",
        "num_layers": num_layers,
        "lora_parameters": {
            "rank": rank,
            "scale": scale,
            "dropout": adapter.dropout,
            "keys": sorted({_relative_module(m.module) for m in modules}),
        },
    }
    if adapter.base_model:
        config["model"] = adapter.base_model
    if adapter.model_type:
        config["model_type"] = adapter.model_type
    save_file(tensors, out / "adapters.safetensors", metadata={"format": "mlx"})
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# The format table


@dataclass(frozen=True)
class AdapterFormat:
    name: str
    weights: str  # the weights file inside the folder
    describes: Callable[[dict], bool]  # does adapter_config.json look like this format?
    read: Callable[[Path, dict], Adapter]


FORMATS: dict[str, AdapterFormat] = {
    "peft": AdapterFormat(
        "peft", "adapter_model.safetensors", lambda c: "peft_type" in c, read_peft
    ),
    "mlx": AdapterFormat(
        "mlx",
        "adapters.safetensors",
        lambda c: "lora_parameters" in c or "fine_tune_type" in c,
        read_mlx,
    ),
}


def detect_format(path: Path, config: dict) -> AdapterFormat:
    for fmt in FORMATS.values():
        if fmt.describes(config) and (path / fmt.weights).is_file():
            return fmt
    for fmt in FORMATS.values():
        if fmt.describes(config):
            if fmt.name == "peft" and (path / "adapter_model.bin").is_file():
                return fmt  # read_peft explains the .bin
            raise GemmaikuError(
                f"{path} has a {fmt.name} adapter_config.json but no {fmt.weights} (copy the adapter's weights file beside it)"
            )
    if (path / "adapters.safetensors").is_file() or (path / "adapter_model.safetensors").is_file():
        raise GemmaikuError(
            f"{path}/adapter_config.json is neither peft's (peft_type) nor mlx_lm's (fine_tune_type, lora_parameters); restore the config the trainer wrote"
        )
    raise GemmaikuError(
        f"{path} is not a LoRA adapter folder (expected adapter_config.json with adapter_model.safetensors from peft, or adapters.safetensors from mlx_lm)"
    )


def read_adapter(path: str | Path) -> Adapter:
    """Read a peft or mlx_lm LoRA adapter folder, refusing what cannot be fused exactly."""
    path = Path(path)
    if not path.is_dir():
        raise GemmaikuError(
            f"no adapter folder at {path} (give the folder with adapter_config.json)"
        )
    config = _load_json(path / CONFIG_FILE)
    fmt = detect_format(path, config)
    adapter = fmt.read(path, config)
    if not adapter.modules:
        raise GemmaikuError(f"{path} holds no LoRA tensors (nothing to fuse)")
    return adapter


# ---------------------------------------------------------------------------------------------
# helpers


def _f32(tensor: torch.Tensor) -> torch.Tensor:
    import torch

    return tensor.to(torch.float32)


def _pad_rows(tensor: torch.Tensor, count: int) -> torch.Tensor:
    import torch

    return torch.cat([tensor, tensor.new_zeros(count, tensor.shape[1])])


def _trim_zero_rank(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop trailing rank components that are zero in both A and B (padding, no information)."""
    rank = a.shape[0]
    while rank > 1 and not a[rank - 1].any() and not b[:, rank - 1].any():
        rank -= 1
    return a[:rank], b[:, :rank]


def _relative_module(module: str) -> str:
    match = LAYER_RE.match(module)
    return match.group(2) if match else module


def _module_order(module: str) -> tuple[int, str]:
    index = layer_index(module)
    return (-1 if index is None else index, module)
