"""mlx_lm LoRA folders: adapter_config.json (fine_tune_type, num_layers, lora_parameters) +
adapters.safetensors.

Tensors ``model.layers.N.<module>.lora_a`` (in, r) and ``.lora_b`` (r, out), no ``.weight``
suffix, and ``.m`` (out,) for DoRA; a ``language_model.`` prefix under the multimodal wrapper.
One rank and one scale for all modules (lora_parameters.rank / .scale), on the last num_layers
blocks (-1: all). Update: scale * lora_b.T @ lora_a.T.
"""

from __future__ import annotations

import json
from pathlib import Path

from gemmaiku.errors import GemmaikuError
from gemmaiku.fuse.lora import (
    CONFIG_FILE,
    Adapter,
    canonical_module,
    layer_index,
    load_parts,
    make_module,
    module_order,
    pad_rank,
    relative_module,
    trim_zero_rank,
)

WEIGHTS_FILE = "adapters.safetensors"
SUFFIXES = {".lora_a": "a", ".lora_b": "b", ".m": "m"}
# fine_tune_type -> None if it can be fused, else why not.
FINE_TUNE_TYPES: dict[str, str | None] = {
    "lora": None,
    "dora": None,
    "full": (
        "it is a full fine-tune (fine_tune_type: full): its adapters.safetensors holds whole "
        "weights, not a LoRA update; load those weights as the model instead"
    ),
}


def first_layer(num_layers: int | None, total: int) -> int:
    """The first block mlx_lm adapts: the last num_layers; -1, 0 or more than there are: all."""
    if num_layers is None or num_layers <= 0 or num_layers >= total:
        return 0
    return total - num_layers


def read_mlx(path: Path, config: dict) -> Adapter:
    kind = config.get("fine_tune_type", "lora")
    if kind not in FINE_TUNE_TYPES:
        raise GemmaikuError(
            f"cannot fuse {path}: unknown fine_tune_type {kind!r} (expected one of {', '.join(FINE_TUNE_TYPES)})"
        )
    if why := FINE_TUNE_TYPES[kind]:
        raise GemmaikuError(f"cannot fuse {path}: {why}")
    params = config.get("lora_parameters")
    if not isinstance(params, dict) or "scale" not in params or "rank" not in params:
        raise GemmaikuError(
            f"cannot fuse {path}: its adapter_config.json has no lora_parameters with rank and scale "
            "(mlx_lm writes them; restore the config)"
        )
    keys = params.get("keys")
    modules = {}
    for name, part in load_parts(path / WEIGHTS_FILE, SUFFIXES, {}).items():
        module = canonical_module(name)
        relative = relative_module(module)
        if keys is not None and relative not in keys:
            raise GemmaikuError(
                f"cannot fuse {path}: it has weights for {name}, but lora_parameters.keys does not list {relative}"
            )
        if "a" in part and "b" in part:
            if part["a"].ndim == 2 and part["a"].shape[1] != params["rank"]:
                raise GemmaikuError(
                    f"cannot fuse {path}: {name} has rank {part['a'].shape[1]} but lora_parameters.rank "
                    f"is {params['rank']} (mlx_lm could not load it either)"
                )
            part = {**part, "a": part["a"].T, "b": part["b"].T}  # to (r, in) and (out, r)
            part["a"], part["b"] = trim_zero_rank(part["a"], part["b"])
        modules[module] = make_module(module, part, float(params["scale"]), kind == "dora", path)
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


def write_mlx(adapter: Adapter, out: Path, total_layers: int | None = None) -> None:
    """Write an mlx_lm folder (one rank, one scale) that fuses to the same weights."""
    from safetensors.torch import save_file

    modules = sorted(adapter.modules.values(), key=lambda m: module_order(m.module))
    outside = [m.module for m in modules if layer_index(m.module) is None]
    if outside:
        raise GemmaikuError(
            f"cannot write {outside[0]} as an mlx_lm adapter: mlx_lm adapts modules inside the blocks only"
        )
    # mlx_lm has one rank and one scale: smaller ranks are padded with zero components (which
    # read_mlx drops again), and differing scales are folded into lora_b under scale 1.0.
    rank = max(m.rank for m in modules)
    scales = {m.scale for m in modules}
    fold = len(scales) > 1
    scale = 1.0 if fold else scales.pop()
    first = min(adapter.layers())
    if first == 0:
        num_layers = -1
    elif total_layers is None:
        raise GemmaikuError(
            f"the adapter starts at block {first}, and mlx_lm counts blocks from the end: "
            "give --base so the number of blocks is known"
        )
    else:
        num_layers = total_layers - first
    tensors = {}
    for m in modules:
        a, b = pad_rank(m, rank, fold)
        tensors[f"model.{m.module}.lora_a"] = a.T.contiguous()  # (in, r)
        tensors[f"model.{m.module}.lora_b"] = b.T.contiguous()  # (r, out)
        if m.magnitude is not None:
            tensors[f"model.{m.module}.m"] = m.magnitude.contiguous()
    config = {
        "fine_tune_type": "dora" if adapter.dora else "lora",
        "num_layers": num_layers,
        "lora_parameters": {
            "rank": rank,
            "scale": scale,
            "dropout": adapter.dropout,
            "keys": sorted({relative_module(m.module) for m in modules}),
        },
    }
    if adapter.base_model:
        config["model"] = adapter.base_model
    if adapter.model_type:
        config["model_type"] = adapter.model_type
    save_file(tensors, out / WEIGHTS_FILE, metadata={"format": "mlx"})
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
