"""Write a Gemma 3 Hugging Face folder as a ``gemma3`` GGUF with gguf-py's GGUFWriter.

Everything is checked (config, tokenizer, tensor names, weight files) before the output is
opened; the file is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemmaiku.base.convert import gguf_to_hf_names, read_gemma3_text_config
from gemmaiku.chat import CHAT_TEMPLATE
from gemmaiku.errors import GemmaikuError
from gemmaiku.export.metadata import ARCH, general_items, hparam_items
from gemmaiku.export.outtypes import FLOAT_OUTTYPES, OUTTYPES
from gemmaiku.export.tensors import TensorPlan, nbytes, plan_tensors, stream_tensors
from gemmaiku.export.vocab import Vocab, read_vocab

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass
class ExportPlan:
    config: Any
    vocab: Vocab
    tensors: list[TensorPlan]
    file_type: int
    name: str
    size_label: str


def load_config(folder: Path):
    """The folder's Gemma3TextConfig, or a one-line error saying what the folder is instead."""
    from transformers import Gemma3TextConfig

    if not folder.is_dir():
        raise GemmaikuError(f"no such folder: {folder} (give a Hugging Face model folder)")
    read_gemma3_text_config(folder)
    return Gemma3TextConfig.from_pretrained(folder)


def _size_label(plans: list[TensorPlan]) -> str:
    import math

    import gguf

    total = sum(math.prod(p.shape) for p in plans)
    return gguf.size_label(total, 0, 0, 0)


def plan_export(folder: str | os.PathLike[str], outtype: str = "f16", name: str | None = None) -> ExportPlan:
    import gguf

    if outtype not in FLOAT_OUTTYPES:
        raise GemmaikuError(f"unknown --outtype {outtype!r} (choose {', '.join(FLOAT_OUTTYPES)})")
    folder = Path(folder)
    config = load_config(folder)
    vocab = read_vocab(folder, config.vocab_size)
    file_type_name, qtype_name = OUTTYPES[outtype].file_type, OUTTYPES[outtype].tensor_type
    tensors = plan_tensors(
        folder,
        n_blocks=config.num_hidden_layers,
        n_vocab=len(vocab.tokens),
        tied=bool(getattr(config, "tie_word_embeddings", True)),
        wanted=gguf.GGMLQuantizationType[qtype_name],
    )
    expected = set(gguf_to_hf_names(config))
    if not config.tie_word_embeddings:
        expected.add("output.weight")
    if missing := sorted(expected - {t.gguf_name for t in tensors}):
        raise GemmaikuError(
            f"{folder} lacks {len(missing)} Gemma 3 tensors, e.g. {missing[0]} (incomplete weights?)"
        )
    return ExportPlan(
        config=config,
        vocab=vocab,
        tensors=tensors,
        file_type=int(gguf.LlamaFileType[file_type_name]),
        name=name or folder.resolve().name,
        size_label=_size_label(tensors),
    )


def _add(writer, key: str, value: Any, vtype: str) -> None:
    import gguf

    types = {
        "uint32": gguf.GGUFValueType.UINT32,
        "float32": gguf.GGUFValueType.FLOAT32,
        "string": gguf.GGUFValueType.STRING,
        "bool": gguf.GGUFValueType.BOOL,
    }
    writer.add_key_value(key, value, types[vtype])


def add_metadata(writer, plan: ExportPlan) -> None:
    import gguf

    for key, value, vtype in general_items(plan.name, plan.size_label, plan.file_type):
        _add(writer, key, value, vtype)
    for key, value, vtype in hparam_items(plan.config):
        _add(writer, key, value, vtype)
    vocab = plan.vocab
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(vocab.tokens)
    writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.types)
    for kind, index in vocab.special_ids.items():
        _add(writer, getattr(gguf.Keys.Tokenizer, f"{kind.upper()}_ID"), index, "uint32")
    for flag, value in vocab.add_flags.items():
        _add(writer, f"tokenizer.ggml.{flag}", value, "bool")
    writer.add_add_space_prefix(False)
    writer.add_chat_template(CHAT_TEMPLATE)


def write_gguf(plan: ExportPlan, path: Path, progress: Progress | None = None) -> None:
    """Header, metadata and tensor infos first, then the tensors one by one."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(path, ARCH)
    add_metadata(writer, plan)
    for tensor in plan.tensors:
        size = nbytes(tensor)
        if tensor.qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            dtype = np.float32 if tensor.qtype == gguf.GGMLQuantizationType.F32 else np.float16
            writer.add_tensor_info(tensor.gguf_name, tensor.shape, np.dtype(dtype), size)
        else:
            byte_shape = gguf.quant_shape_to_byte_shape(tensor.shape, tensor.qtype)
            writer.add_tensor_info(tensor.gguf_name, byte_shape, np.dtype(np.uint8), size, raw_dtype=tensor.qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    total = sum(nbytes(t) for t in plan.tensors)
    done = 0
    for tensor, array in stream_tensors(plan.tensors):
        if array.nbytes != nbytes(tensor):
            raise GemmaikuError(f"tensor {tensor.hf_name} converted to {array.nbytes} bytes, expected {nbytes(tensor)}")
        writer.write_tensor_data(array)
        done += array.nbytes
        if progress:
            progress(done, total)
    writer.close()
