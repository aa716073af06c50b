"""`fuse_adapter`: fold a LoRA adapter into its base model and write a Hugging Face folder.

Every check runs before anything is written. The base is then streamed one safetensors shard at
a time: each adapted weight becomes ``W + scale * B @ A`` (for DoRA, each row of that rescaled to
its magnitude m), computed in float32 and cast back to the base's dtype (or ``dtype``). Every
other tensor is copied bit for bit, so norms stay in the Hugging Face convention (no +1) and a
tied lm_head is not duplicated. Config, tokenizer and generation files are copied, and the folder
appears at ``out_dir`` only when complete.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path

from gemmaiku.atomic import atomic_dir
from gemmaiku.errors import GemmaikuError
from gemmaiku.fuse.adapters import read_adapter
from gemmaiku.fuse.base import (
    COPIED_FILES,
    SUPPORTED_MODEL_TYPES,
    WEIGHTS_INDEX,
    BaseFolder,
    check_compatible_config,
    read_base,
    read_config,
)
from gemmaiku.fuse.lora import Adapter, layer_index
from gemmaiku.fuse.mlx_adapter import first_layer
from gemmaiku.progress import progress_bars, stepper

# --dtype choices -> torch dtype names; None keeps each tensor's own dtype.
OUT_DTYPES = ("float32", "float16", "bfloat16")

# Model families an adapter's recorded base name can reveal as not Gemma 3.
FOREIGN_BASES = {
    "Gemma 1/2": r"gemma-?2(?![\d.])|gemma-(?:2|7)b|gemma-1\.1|codegemma|recurrentgemma",
    "Llama": r"llama",
    "Qwen": r"qwen",
    "Mistral": r"mistral|mixtral",
    "Phi": r"(?<![a-z])phi-?\d",
    "SmolLM": r"smollm",
    "GPT-2": r"(?<![a-z])gpt-?2|distilgpt",
    "Falcon": r"falcon",
    "OLMo": r"olmo",
    "Granite": r"granite",
    "DeepSeek": r"deepseek",
}


def check_architecture(adapter: Adapter, base: BaseFolder) -> None:
    """Refuse an adapter whose recorded base is evidently another architecture."""
    if adapter.model_type and adapter.model_type not in SUPPORTED_MODEL_TYPES:
        raise GemmaikuError(
            f"{adapter.path} was trained on a {adapter.model_type!r} model, not Gemma 3 like {base.path}; use an adapter made for this base"
        )
    name = adapter.base_model
    if not name:
        return
    local = Path(name).expanduser()
    if (local / "config.json").is_file():
        check_compatible_config(base, read_config(local), name)
        return
    model_name = (
        name.rstrip("/").rsplit("/", 1)[-1].lower()
    )  # "meta-llama/Llama-3.2-1B" -> "llama-3.2-1b"
    for family, pattern in FOREIGN_BASES.items():
        if re.search(pattern, model_name):
            raise GemmaikuError(
                f"{adapter.path} was trained on {name} ({family}), not Gemma 3 like {base.path}; use an adapter made for this base"
            )


def check_fits(adapter: Adapter, base: BaseFolder) -> None:
    """Every adapter module must be a base weight of matching shape, in the blocks it may adapt."""
    check_architecture(adapter, base)
    first = first_layer(adapter.num_layers, base.num_layers) if adapter.format == "mlx" else 0
    problems = []
    for module, lora in sorted(adapter.modules.items()):
        key = base.modules.get(module)
        layer = layer_index(module)
        if key is None:
            where = (
                f"block {layer}, but the base has {base.num_layers} blocks"
                if layer is not None and layer >= base.num_layers
                else "no such weight in the base"
            )
            problems.append(f"{module} ({where})")
            continue
        out_features, in_features = base.shapes[key][0], base.shapes[key][-1]
        if (
            len(base.shapes[key]) != 2
            or lora.a.shape[1] != in_features
            or lora.b.shape[0] != out_features
        ):
            problems.append(
                f"{module} (adapter update {lora.b.shape[0]}x{lora.a.shape[1]}, base weight {'x'.join(map(str, base.shapes[key]))})"
            )
        elif layer is not None and layer < first:
            problems.append(
                f"{module} (num_layers {adapter.num_layers} adapts blocks {first}-{base.num_layers - 1} only)"
            )
    if problems:
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        raise GemmaikuError(
            f"the adapter {adapter.path} does not fit the base {base.path}: {problems[0]}{more}; use the base the adapter was trained on"
        )


def _check_out_dir(out: Path, base: BaseFolder, adapter: Adapter, force: bool) -> None:
    resolved = out.resolve()
    for source in (base.path, adapter.path):
        if resolved == source.resolve() or source.resolve() in resolved.parents:
            raise GemmaikuError(
                f"the output {out} would overwrite the input {source}; choose another --out"
            )
    if out.exists() and not force:
        raise GemmaikuError(f"{out} already exists (remove it or pass --force)")
    if out.exists() and not out.is_dir():
        raise GemmaikuError(f"{out} exists and is not a folder (choose another --out)")


def _write_config(base: BaseFolder, tmp: Path, dtype: str | None) -> None:
    if not dtype:
        shutil.copy2(base.path / "config.json", tmp / "config.json")
        return
    config = {**base.config, "dtype": dtype}
    if "torch_dtype" in config:  # transformers v4's name for it
        config["torch_dtype"] = dtype
    (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def fuse_adapter(
    base_dir: str | Path,
    adapter_dir: str | Path,
    out_dir: str | Path,
    *,
    dtype: str | None = None,
    force: bool = False,
    progress: bool = False,
) -> Path:
    """Fuse the LoRA adapter at ``adapter_dir`` into the base at ``base_dir``; write ``out_dir``.

    ``dtype`` (float32, float16, bfloat16) casts the written weights; by default each keeps the
    base's dtype. ``force`` replaces an existing ``out_dir``. Returns ``out_dir``.
    """
    import torch

    if dtype is not None and dtype not in OUT_DTYPES:
        raise GemmaikuError(f"unknown dtype {dtype!r} (choose one of {', '.join(OUT_DTYPES)})")
    base = read_base(base_dir)
    adapter = read_adapter(adapter_dir)
    check_fits(adapter, base)
    out = Path(out_dir)
    _check_out_dir(out, base, adapter, force)

    by_key = {base.modules[module]: lora for module, lora in adapter.modules.items()}
    total = sum(1 for key in base.shapes if key not in base.skipped_keys())
    try:
        with (
            atomic_dir(out) as tmp,
            progress_bars(progress) as report,
            _one_thread(),
        ):
            advance = stepper(report, f"fusing {len(by_key)} modules", total)
            _write_weights(base, by_key, tmp, getattr(torch, dtype) if dtype else None, advance)
            for name in COPIED_FILES:
                if name != "config.json" and (base.path / name).is_file():
                    shutil.copy2(base.path / name, tmp / name)
            _write_config(base, tmp, dtype)
    except OSError as exc:
        raise GemmaikuError(
            f"cannot write the fused model to {out}: {exc.strerror or exc} (free some space or choose a writable --out)"
        ) from None
    return out


def _write_weights(base: BaseFolder, by_key: dict, tmp: Path, cast, advance) -> None:
    """Stream the base shard by shard: fused weights for adapted keys, the rest as they are."""
    from safetensors.torch import safe_open, save_file

    skipped = base.skipped_keys()
    weight_map, total_size = {}, 0
    for shard in base.shards:
        tensors = {}
        with safe_open(base.path / shard, framework="pt") as handle:
            metadata = handle.metadata()
            for key in handle.keys():  # noqa: SIM118 (safe_open is not a dict)
                if key in skipped:
                    continue
                tensor = handle.get_tensor(key)
                if key in by_key:
                    tensor = by_key[key].fuse(tensor).to(cast or tensor.dtype)
                elif cast is not None and tensor.is_floating_point():
                    tensor = tensor.to(cast)
                tensors[key] = tensor.contiguous()
                weight_map[key] = shard
                total_size += tensor.numel() * tensor.element_size()
                advance()
        save_file(tensors, tmp / shard, metadata=metadata or {"format": "pt"})
        del tensors
    if base.index is not None:
        _write_index(base, tmp, weight_map, total_size)


@contextlib.contextmanager
def _one_thread():
    """Run torch on one thread: fusing is memory-bound, and on a busy 2-core machine two
    threads stall each other (measured: a rank-8 update took 57 ms on 2 threads, 1.9 ms on 1)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _write_index(base: BaseFolder, tmp: Path, weight_map: dict[str, str], total_size: int) -> None:
    index = {**base.index, "weight_map": dict(sorted(weight_map.items()))}
    index["metadata"] = {**index.get("metadata", {}), "total_size": total_size}
    (tmp / WEIGHTS_INDEX).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
