"""Full fine-tuning of the decoder blocks: what trains, how it is saved, how it is applied.

Every weight of the 18 blocks trains (projections and norms); the embeddings (also the tied head)
and the final norm stay frozen, so a run changes only ``model.layers.*``. Those tensors are saved
under their Hugging Face names in ``OUT/model_blocks.safetensors``, beside ``full_config.json``
(the base it was trained on and the tensor names). :func:`apply_blocks` writes a complete
Hugging Face folder (the base with those tensors replaced) that `gemmaiku export` converts like
any other; :func:`load_blocks` puts them back into a loaded base model.

    python -m gemmaiku.train.full RUN --out DIR [--base DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from gemmaiku.atomic import atomic_dir, atomic_file
from gemmaiku.errors import GemmaikuError

BLOCKS_FILE = "model_blocks.safetensors"
CONFIG_FILE = "full_config.json"
TRAINED_PREFIX = "model.layers."  # Gemma3ForCausalLM's names for the decoder blocks' tensors
KIND = "gemmaiku-full-blocks"


def freeze_all_but_blocks(model) -> int:
    """Make only the decoder blocks trainable; return how many parameters train."""
    trained = 0
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith(TRAINED_PREFIX))
        trained += param.numel() if param.requires_grad else 0
    if not trained:
        raise GemmaikuError(
            "the model has no decoder blocks named model.layers.* (full mode needs a Gemma 3 causal LM)"
        )
    return trained


def block_tensors(model) -> dict:
    """The trained tensors by Hugging Face name, on the CPU."""
    return {
        name: param.detach().to("cpu").contiguous()
        for name, param in model.named_parameters()
        if name.startswith(TRAINED_PREFIX)
    }


def save_blocks(model, folder: Path, base: str) -> None:
    """Write ``model_blocks.safetensors`` and ``full_config.json`` into ``folder``, each atomically."""
    from safetensors.torch import save_file

    tensors = block_tensors(model)
    with atomic_file(folder / BLOCKS_FILE) as tmp:
        save_file(tensors, tmp, metadata={"format": "pt", "kind": KIND})
    config = {
        "kind": KIND,
        "base_model_name_or_path": base,
        "trained": TRAINED_PREFIX + "*",
        "tensors": len(tensors),
        "dtype": str(next(iter(tensors.values())).dtype).removeprefix("torch."),
    }
    with atomic_file(folder / CONFIG_FILE) as tmp:
        tmp.write_text(json.dumps(config, indent=2) + "\n")


def read_blocks(folder: Path) -> dict:
    from safetensors.torch import load_file

    path = Path(folder) / BLOCKS_FILE
    if not path.is_file():
        raise GemmaikuError(
            f"no {BLOCKS_FILE} in {folder} (give a folder made by `gemmaiku train --train-mode full`)"
        )
    return load_file(path)


def load_blocks(model, folder: Path) -> None:
    """Copy a full run's block weights into ``model`` (same architecture, exactly its tensors)."""
    import torch

    saved = read_blocks(folder)
    params = dict(model.named_parameters())
    wanted = {name for name in params if name.startswith(TRAINED_PREFIX)}
    bad = sorted(set(saved) ^ wanted) + [
        n for n in saved if n in params and saved[n].shape != params[n].shape
    ]
    if bad:
        raise GemmaikuError(
            f"{folder} does not fit this model ({bad[0]}); use weights trained on the same base"
        )
    with torch.no_grad():
        for name, tensor in saved.items():
            params[name].copy_(tensor)


def apply_blocks(base_dir: str | Path, run_dir: str | Path, out_dir: str | Path) -> Path:
    """A Hugging Face folder: ``base_dir`` with the block tensors of ``run_dir`` in their place."""
    from safetensors.torch import safe_open, save_file

    from gemmaiku.fuse.base import COPIED_FILES, WEIGHTS_INDEX, read_base

    base = read_base(base_dir)
    saved = read_blocks(Path(run_dir))
    missing = [name for name in saved if name not in base.shapes]
    wrong = [n for n in saved if n in base.shapes and tuple(saved[n].shape) != base.shapes[n]]
    if missing or wrong:
        raise GemmaikuError(
            f"{run_dir} does not fit the base {base_dir} ({(missing + wrong)[0]}); use the base it was trained on"
        )
    with atomic_dir(Path(out_dir)) as tmp:
        for shard in base.shards:
            tensors = {}
            with safe_open(base.path / shard, framework="pt") as handle:
                metadata = handle.metadata()
                for key in handle.keys():  # noqa: SIM118 (safe_open is not a dict)
                    if key in base.skipped_keys():
                        continue
                    tensor = handle.get_tensor(key)
                    tensors[key] = saved[key].to(tensor.dtype) if key in saved else tensor
            save_file(tensors, tmp / shard, metadata=metadata or {"format": "pt"})
        for name in (*COPIED_FILES, WEIGHTS_INDEX):
            if (base.path / name).is_file():
                shutil.copy2(base.path / name, tmp / name)
    return Path(out_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write a Hugging Face folder: the base with a full run's block weights.",
        epilog="example: python -m gemmaiku.train.full runs/full --out runs/full-model",
    )
    parser.add_argument(
        "run", type=Path, help="a folder made by `gemmaiku train --train-mode full`"
    )
    parser.add_argument("--out", type=Path, required=True, help="the folder to write")
    parser.add_argument("--base", type=Path, default=None, help="[the cached bundled 270M]")
    args = parser.parse_args(argv)
    if args.base is None:
        from gemmaiku.base import ensure_base

        args.base = ensure_base(progress=False)
    try:
        if args.out.exists():
            raise GemmaikuError(f"{args.out} already exists (remove it or choose another --out)")
        print(apply_blocks(args.base, args.run, args.out))
    except GemmaikuError as exc:
        if os.environ.get("GEMMAIKU_DEBUG"):
            raise
        raise SystemExit(f"gemmaiku: error: {exc}") from None


if __name__ == "__main__":
    main()
