"""Plan and stream a Gemma 3 folder's tensors into GGUF, one tensor in memory at a time."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gemmaiku.base.convert import is_norm
from gemmaiku.errors import GemmaikuError

# Hugging Face names that never go into the GGUF.
SKIPPED_SUFFIXES = (".rotary_emb.inv_freq",)
TIED_OUTPUT = "lm_head.weight"
EMBEDDINGS = "model.embed_tokens.weight"


@dataclass(frozen=True)
class TensorPlan:
    hf_name: str
    gguf_name: str
    file: Path
    shape: tuple[int, ...]  # numpy order, after trimming
    qtype: object  # gguf.GGMLQuantizationType
    norm_shift: float
    rows: int | None  # keep only the first ``rows`` rows (embeddings beyond the vocabulary)


def weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (ValueError, KeyError) as exc:
            raise GemmaikuError(f"{index} is damaged ({exc})") from None
        files = sorted({folder / name for name in weight_map.values()})
    else:
        files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise GemmaikuError(f"{folder} has no .safetensors weights (give a Hugging Face model folder)")
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise GemmaikuError(f"{folder} lacks weight files {', '.join(missing)}")
    return files


def _open(path: Path):
    from safetensors import SafetensorError, safe_open

    try:
        return safe_open(path, "pt")
    except (SafetensorError, OSError) as exc:
        raise GemmaikuError(f"cannot read {path}: {exc} (the file is truncated or damaged)") from None


def _check_complete(path: Path) -> None:
    """safe_open maps the file lazily; make sure the data its header promises is all there."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        header_len = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(header_len))
    end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
    if 8 + header_len + end > size:
        raise GemmaikuError(
            f"{path} is truncated ({size} bytes, its header promises {8 + header_len + end}; "
            "re-copy or re-save the model)"
        )


def output_qtype(gguf_name: str, shape: tuple[int, ...], wanted):
    """F32 for 1-D tensors and norms; the wanted type otherwise, F16 where rows don't fit blocks."""
    import gguf

    if len(shape) <= 1 or is_norm(gguf_name):
        return gguf.GGMLQuantizationType.F32
    block = gguf.GGML_QUANT_SIZES[wanted][0]
    return wanted if shape[-1] % block == 0 else gguf.GGMLQuantizationType.F16


def plan_tensors(folder: Path, n_blocks: int, n_vocab: int, tied: bool, wanted) -> list[TensorPlan]:
    import gguf

    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, n_blocks)
    plans: list[TensorPlan] = []
    seen: set[str] = set()
    for path in weight_files(folder):
        with _open(path) as handle:
            _check_complete(path)
            names = handle.keys()
            for hf_name in names:
                if hf_name.endswith(SKIPPED_SUFFIXES) or (tied and hf_name == TIED_OUTPUT):
                    continue
                gguf_name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
                if gguf_name is None:
                    raise GemmaikuError(f"{path.name} has a tensor Gemma 3 does not: {hf_name} (is this a Gemma 3 model?)")
                if gguf_name in seen:
                    raise GemmaikuError(f"tensor {gguf_name} appears twice in {folder}")
                seen.add(gguf_name)
                shape = tuple(handle.get_slice(hf_name).get_shape())
                rows = None
                if hf_name == EMBEDDINGS and shape[0] > n_vocab:
                    rows, shape = n_vocab, (n_vocab, *shape[1:])
                plans.append(
                    TensorPlan(
                        hf_name=hf_name,
                        gguf_name=gguf_name,
                        file=path,
                        shape=shape,
                        qtype=output_qtype(gguf_name, shape, wanted),
                        norm_shift=1.0 if is_norm(gguf_name) else 0.0,
                        rows=rows,
                    )
                )
    return plans


def nbytes(plan: TensorPlan) -> int:
    import gguf

    block, type_size = gguf.GGML_QUANT_SIZES[plan.qtype]
    return math.prod(plan.shape) // block * type_size


def stream_tensors(plans: list[TensorPlan]) -> Iterator[tuple[TensorPlan, object]]:
    """Yield each planned tensor converted (shifted, cast, quantized) as a numpy array."""
    import gguf
    import torch

    handles: dict[Path, object] = {}
    try:
        for plan in plans:
            if plan.file not in handles:
                handles[plan.file] = _open(plan.file).__enter__()
            data = handles[plan.file].get_tensor(plan.hf_name)
            if data.dtype not in (torch.float16, torch.float32):
                data = data.to(torch.float32)
            if plan.rows is not None:
                data = data[: plan.rows]
            if plan.norm_shift:
                data = data + plan.norm_shift
            array = gguf.quants.quantize(data.numpy(), plan.qtype)
            del data
            yield plan, array
    finally:
        for handle in handles.values():
            handle.__exit__(None, None, None)
