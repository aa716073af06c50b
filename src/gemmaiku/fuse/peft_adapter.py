"""peft LoRA folders: adapter_config.json (peft_type LORA) + adapter_model.safetensors.

Tensors ``base_model.model.<module>.lora_A.weight`` (r, in) and ``.lora_B.weight`` (out, r), and
``.lora_magnitude_vector`` (out,) for DoRA. Scale = lora_alpha / r, or lora_alpha / sqrt(r) with
use_rslora, where rank_pattern / alpha_pattern may override r and lora_alpha per module, matched
the way peft matches them (see :func:`pattern_key`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gemmaiku.errors import GemmaikuError
from gemmaiku.fuse.lora import (
    CONFIG_FILE,
    Adapter,
    canonical_module,
    load_parts,
    make_module,
    module_order,
    relative_module,
)

WEIGHTS_FILE = "adapter_model.safetensors"
PREFIX = "base_model.model."  # peft's wrapper in front of the model's own module names
SUFFIXES = {
    ".lora_A.weight": "a",
    ".lora_B.weight": "b",
    ".lora_magnitude_vector": "m",
    ".lora_magnitude_vector.weight": "m",  # the name some older peft versions saved
}
REFUSED_TENSORS = {
    ".lora_B.bias": "a lora_B bias (lora_bias), which Gemma's projections have nowhere to go",
    "lora_embedding_A": "a LoRA on the embeddings (only linear projections are supported)",
    "lora_embedding_B": "a LoRA on the embeddings (only linear projections are supported)",
    "modules_to_save": "whole saved modules (modules_to_save)",
    "trainable_tokens": "trainable token embeddings",
}
# peft init methods that rewrite the base weights when the adapter is created: such an adapter
# fits only the rewritten base, not the original one we fuse into.
BASE_REWRITING_INITS = ("pissa", "corda", "olora", "mica", "loftq", "lora_ga")
# Config fields whose non-default value makes the adapter compute something other than
# (W + scale * B @ A), DoRA-rescaled or not. field -> (is it set?, why we refuse)
REFUSED_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "bias": (
        lambda v: v != "none",
        'it trains biases (bias: {value!r}); only bias: "none" adapters can be fused',
    ),
    "lora_bias": (
        bool,
        "it has a bias on lora_B (lora_bias: true), and Gemma's projections have no bias to add it to",
    ),
    "modules_to_save": (bool, "it saves whole modules ({value}); only LoRA updates can be fused"),
    "trainable_token_indices": (
        bool,
        "it trains token embeddings (trainable_token_indices); only LoRA on linear layers can be fused",
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
        "it is an activated LoRA (alora_invocation_tokens), which applies only after its invocation tokens and cannot be merged",
    ),
    "use_qalora": (
        bool,
        "it is a QA-LoRA adapter (use_qalora); only plain LoRA and DoRA can be fused",
    ),
    "use_bdlora": (
        bool,
        "it is a block-diagonal LoRA (use_bdlora); only plain LoRA and DoRA can be fused",
    ),
    "arrow_config": (
        bool,
        "it is an Arrow adapter (arrow_config); only plain LoRA and DoRA can be fused",
    ),
    "velora_config": (
        bool,
        "it is a VeLoRA adapter (velora_config); only plain LoRA and DoRA can be fused",
    ),
    "monteclora_config": (
        bool,
        "it is a MonteCLoRA adapter (monteclora_config); only plain LoRA and DoRA can be fused",
    ),
    "kasa_config": (
        bool,
        "it is a KaSA adapter (kasa_config); only plain LoRA and DoRA can be fused",
    ),
    "init_lora_weights": (
        lambda v: isinstance(v, str) and v.lower().startswith(BASE_REWRITING_INITS),
        "it was initialised with {value!r}, which rewrites the base weights; re-save it with peft's "
        "save_pretrained(path_initial_model_for_weight_conversion=...) to get a plain LoRA",
    ),
}


def pattern_key(patterns: dict, module_key: str) -> str | None:
    """The first rank_pattern / alpha_pattern key naming ``module_key``, as peft matches it.

    peft tries each key in order as a regular expression for the whole module name or a dotted
    suffix of it (``re.match(rf"(.*\\.)?({key})$", name)``); the first match wins.
    """
    for key in patterns:
        if re.match(rf"(.*\.)?({key})$", module_key):
            return key
    return None


def _layer_index(config: dict, module_key: str) -> int | None:
    names = config.get("layers_pattern")
    if not names:
        match = re.match(r".*?\.[^.]*\.(?P<idx>\d+)\.", module_key)
    else:
        match = None
        for name in [names] if isinstance(names, str) else names:
            if match := re.match(rf"(?:^|.*?\.){name}\.(?P<idx>\d+)\.", module_key):
                break
    return int(match.group("idx")) if match else None


def targets(config: dict, module_key: str) -> bool:
    """Whether peft would put a LoRA on ``module_key`` under this config (its targeting rules)."""
    exclude = config.get("exclude_modules")
    if exclude:
        if isinstance(exclude, str):
            if re.fullmatch(exclude, module_key):
                return False
        elif module_key in exclude or any(module_key.endswith(f".{key}") for key in exclude):
            return False
    wanted = config.get("target_modules")
    if wanted is None or wanted == "all-linear":
        return True
    if isinstance(wanted, str):
        return re.fullmatch(wanted, module_key) is not None
    if module_key in wanted:
        return True
    if not any(module_key.endswith(f".{key}") for key in wanted):
        return False
    layers = config.get("layers_to_transform")
    if layers is None or layers == []:
        return True
    index = _layer_index(config, module_key)
    if index is None:
        return False
    return index == layers if isinstance(layers, int) else index in layers


def module_rank(config: dict, module_key: str) -> int:
    patterns = config.get("rank_pattern") or {}
    key = pattern_key(patterns, module_key)
    return int(patterns[key] if key is not None else config.get("r", 8))


def module_scale(config: dict, module_key: str, rank: int) -> float:
    """lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora; alpha_pattern applied."""
    patterns = config.get("alpha_pattern") or {}
    key = pattern_key(patterns, module_key)
    alpha = patterns[key] if key is not None else config.get("lora_alpha", 8)
    return alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank


def _check_config(path: Path, config: dict) -> None:
    if config.get("peft_type") != "LORA":
        raise GemmaikuError(
            f"cannot fuse {path}: it is a peft {config.get('peft_type')} adapter, and only LORA adapters can be fused"
        )
    task = config.get("task_type")
    if task not in (None, "CAUSAL_LM"):
        raise GemmaikuError(
            f"cannot fuse {path}: it was made for task {task}, not CAUSAL_LM (a text-generation adapter is needed)"
        )
    for name, (is_set, why) in REFUSED_FIELDS.items():
        value = config.get(name)
        if value is not None and is_set(value):
            raise GemmaikuError(f"cannot fuse {path}: {why.format(value=value)}")
    if not (path / WEIGHTS_FILE).is_file() and (path / "adapter_model.bin").is_file():
        raise GemmaikuError(
            f"cannot fuse {path}: it has adapter_model.bin only; re-save it with safe_serialization=True to get {WEIGHTS_FILE}"
        )


def read_peft(path: Path, config: dict) -> Adapter:
    _check_config(path, config)
    dora = bool(config.get("use_dora"))
    modules = {}
    for name, part in load_parts(path / WEIGHTS_FILE, SUFFIXES, REFUSED_TENSORS).items():
        module_key = name.removeprefix(PREFIX)  # peft's own name for the module
        if not targets(config, module_key):
            raise GemmaikuError(
                f"cannot fuse {path}: it has weights for {module_key}, which its config's target_modules "
                "do not target (peft would ignore them); the config and weights disagree"
            )
        rank = module_rank(config, module_key)
        if "a" in part and part["a"].shape[0] != rank:
            raise GemmaikuError(
                f"cannot fuse {path}: {module_key} has rank {part['a'].shape[0]} but its config "
                f"(r / rank_pattern) says {rank}, so its scale would be wrong"
            )
        # fan_in_fan_out needs no handling: peft resets it to False on torch.nn.Linear, which all
        # of Gemma's projections are.
        module = canonical_module(module_key)
        modules[module] = make_module(
            module, part, module_scale(config, module_key, rank), dora, path
        )
    return Adapter(
        format="peft",
        path=path,
        modules=modules,
        base_model=config.get("base_model_name_or_path"),
        dropout=float(config.get("lora_dropout") or 0.0),
        config=config,
    )


def write_peft(adapter: Adapter, out: Path, total_layers: int | None = None) -> None:
    """Write a peft folder that fuses (here, or with peft's merge) to the same weights."""
    from safetensors.torch import save_file

    modules = sorted(adapter.modules.values(), key=lambda m: module_order(m.module))
    ranks = {m.rank for m in modules}
    scales = {m.scale for m in modules}
    rank = max(ranks)
    # A single scale that lora_alpha / r states exactly keeps B as it is. Otherwise each
    # module's scale is folded into its B, and lora_alpha = r makes peft's scale exactly 1.
    scale = next(iter(scales))
    keep_scale = len(scales) == 1 and len(ranks) == 1 and (scale * rank) / rank == scale
    tensors = {}
    rank_pattern, alpha_pattern = {}, {}
    for m in modules:
        key = f"{PREFIX}model.{m.module}"
        tensors[f"{key}.lora_A.weight"] = m.a.contiguous()
        tensors[f"{key}.lora_B.weight"] = (m.b if keep_scale else m.scale * m.b).contiguous()
        if m.magnitude is not None:
            tensors[f"{key}.lora_magnitude_vector"] = m.magnitude.contiguous()
        if m.rank != rank:
            rank_pattern[re.escape(f"model.{m.module}")] = m.rank
            alpha_pattern[re.escape(f"model.{m.module}")] = m.rank
    layers = sorted(adapter.layers())
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": adapter.base_model,
        "r": rank,
        "lora_alpha": scale * rank if keep_scale else rank,
        "lora_dropout": adapter.dropout,
        "use_rslora": False,
        "use_dora": adapter.dora,
        "fan_in_fan_out": False,
        "bias": "none",
        "target_modules": sorted({relative_module(m.module) for m in modules}),
        "layers_to_transform": layers or None,
        "layers_pattern": "layers" if layers else None,
        "rank_pattern": rank_pattern,
        "alpha_pattern": alpha_pattern,
        "modules_to_save": None,
        "init_lora_weights": True,
        "inference_mode": True,
    }
    save_file(tensors, out / WEIGHTS_FILE, metadata={"format": "pt"})
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
