"""Turn a Gemma 3 GGUF (or a Gemma 3 Hugging Face folder) into a float32 Hugging Face folder.

GGUF -> folder: gguf-py dequantizes every tensor, the name map is run backwards, llama.cpp's +1 on
norm weights is taken off, and config.json is rebuilt from the ``gemma3.*`` keys. The tokenizer
gets a rebuilt SentencePiece ``tokenizer.model``, a ``tokenizer.json`` (transformers' own GGUF
tokenizer conversion) and Gemmaiku's chat template.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gemmaiku.base.gguf_io import GGUFVocab, open_gguf, read_metadata, read_vocab
from gemmaiku.base.tokenizer import added_tokens_decoder, build_sentencepiece_model
from gemmaiku.chat import CHAT_TEMPLATE, END_OF_TURN
from gemmaiku.errors import GemmaikuError

ARCH = "gemma3"
HF_ARCHITECTURE = "Gemma3ForCausalLM"
HF_MODEL_TYPE = "gemma3_text"

# "<arch>.<key>" in the GGUF -> Gemma3TextConfig field. The first eight must be present.
HPARAMS: dict[str, str] = {
    "context_length": "max_position_embeddings",
    "embedding_length": "hidden_size",
    "block_count": "num_hidden_layers",
    "feed_forward_length": "intermediate_size",
    "attention.head_count": "num_attention_heads",
    "attention.head_count_kv": "num_key_value_heads",
    "attention.key_length": "head_dim",
    "attention.layer_norm_rms_epsilon": "rms_norm_eps",
    "attention.sliding_window": "sliding_window",
    "final_logit_softcapping": "final_logit_softcapping",
}
REQUIRED_HPARAMS = list(HPARAMS)[:8]
FLOAT_HPARAMS = {"rms_norm_eps", "final_logit_softcapping"}

# What llama.cpp assumes for gemma3 when the GGUF is silent.
SLIDING_WINDOW_PATTERN = 6  # every 6th layer attends globally
ROPE_BASE_DEFAULT = 1_000_000.0
ROPE_BASE_SWA_DEFAULT = 10_000.0

TOKENIZER_FILES = (
    "tokenizer.model",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
)

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def _no_progress(stage: str, done: int, total: int) -> None:
    pass


def _float32_round(value: float) -> float:
    """A float32 metadata value as its shortest decimal (9.99999997e-07 -> 1e-06)."""
    import numpy as np

    return float(str(np.float32(value)))


def config_from_gguf(metadata: dict[str, Any], vocab_size: int, vocab: GGUFVocab):
    """A Gemma3TextConfig equivalent to the GGUF's ``gemma3.*`` hyperparameters."""
    from transformers import Gemma3TextConfig

    arch = metadata.get("general.architecture")
    if arch != ARCH:
        raise GemmaikuError(f"the GGUF's architecture is {arch!r}, not 'gemma3' (give a Gemma 3 GGUF)")
    missing = [key for key in REQUIRED_HPARAMS if f"{ARCH}.{key}" not in metadata]
    if missing:
        raise GemmaikuError(f"the GGUF lacks {', '.join(f'{ARCH}.{k}' for k in missing)} (it is not a complete Gemma 3 GGUF)")
    fields: dict[str, Any] = {}
    for key, field in HPARAMS.items():
        if (value := metadata.get(f"{ARCH}.{key}")) is not None:
            fields[field] = _float32_round(value) if field in FLOAT_HPARAMS else int(value)
    layers = fields["num_hidden_layers"]
    config = Gemma3TextConfig(
        **fields,
        vocab_size=vocab_size,
        # llama.cpp scales queries by 1/sqrt(head_dim) for every Gemma 3 but the 27B.
        query_pre_attn_scalar=fields["head_dim"],
        layer_types=[
            "full_attention" if (i + 1) % SLIDING_WINDOW_PATTERN == 0 else "sliding_attention"
            for i in range(layers)
        ],
        rope_parameters={
            "full_attention": {
                "rope_type": "default",
                "rope_theta": float(metadata.get(f"{ARCH}.rope.freq_base", ROPE_BASE_DEFAULT)),
            },
            "sliding_attention": {
                "rope_type": "default",
                "rope_theta": float(metadata.get(f"{ARCH}.rope.freq_base_swa", ROPE_BASE_SWA_DEFAULT)),
            },
        },
        bos_token_id=vocab.bos_id,
        eos_token_id=vocab.eos_id,
        pad_token_id=vocab.pad_id,
        tie_word_embeddings=True,
        dtype="float32",
    )
    config.architectures = [HF_ARCHITECTURE]
    return config


def gguf_to_hf_names(config) -> dict[str, str]:
    """GGUF tensor name -> Hugging Face parameter name, from gguf-py's name map run backwards."""
    import gguf
    import torch
    from transformers import Gemma3ForCausalLM

    with torch.device("meta"):
        model = Gemma3ForCausalLM(config)
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, config.num_hidden_layers)
    out: dict[str, str] = {}
    for hf_name in model.state_dict():
        if hf_name == "lm_head.weight":  # tied to the embeddings
            continue
        gguf_name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise GemmaikuError(f"no GGUF name for {hf_name} (gguf-py's map for gemma3 lacks it)")
        out[gguf_name] = hf_name
    return out


def is_norm(name: str) -> bool:
    """Gemma's RMSNorm computes x * (1 + w); llama.cpp stores 1 + w, Hugging Face stores w."""
    return name.endswith("norm.weight")


def _eos_ids(vocab: GGUFVocab) -> list[int]:
    ids = [vocab.eos_id]
    if END_OF_TURN in vocab.tokens:
        ids.append(vocab.tokens.index(END_OF_TURN))
    return ids


def write_from_gguf(gguf_path: Path, out: Path, progress: Progress = _no_progress) -> None:
    """Write a float32 Gemma3ForCausalLM folder for ``gguf_path`` into the empty folder ``out``."""
    import numpy as np
    import torch
    from safetensors.torch import save_file
    from transformers import GenerationConfig

    gguf_file = open_gguf(gguf_path)
    metadata = read_metadata(gguf_file, skip_arrays_longer_than=64)
    vocab = read_vocab(gguf_file)
    config = config_from_gguf(metadata, len(vocab.tokens), vocab)
    names = gguf_to_hf_names(config)

    found = {t.name for t in gguf_file.tensors}
    if missing := sorted(set(names) - found):
        raise GemmaikuError(f"the GGUF lacks tensors {', '.join(missing[:3])}... (it is not a complete Gemma 3)")
    if extra := sorted(found - set(names)):
        raise GemmaikuError(f"the GGUF has tensors Gemma3ForCausalLM does not: {', '.join(extra[:3])}")

    tensors: dict[str, torch.Tensor] = {}
    total = len(gguf_file.tensors)
    for done, info in enumerate(gguf_file.tensors, start=1):
        array = gguf_file.dequantize(info)
        if is_norm(info.name):
            array = array - np.float32(1.0)
        if not array.flags.writeable:  # F32 tensors come back as views of the memory map
            array = array.copy()
        tensors[names[info.name]] = torch.from_numpy(np.ascontiguousarray(array))
        progress("dequantize", done, total)
    expected_rows = config.vocab_size
    if tensors["model.embed_tokens.weight"].shape[0] != expected_rows:
        raise GemmaikuError("token_embd rows differ from the vocabulary size (damaged GGUF)")

    config.save_pretrained(out)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    del tensors
    GenerationConfig(
        bos_token_id=vocab.bos_id, eos_token_id=_eos_ids(vocab), pad_token_id=vocab.pad_id
    ).save_pretrained(out)
    progress("tokenizer", 0, 1)
    write_tokenizer_from_gguf(gguf_path, vocab, out)
    progress("tokenizer", 1, 1)


def write_tokenizer_from_gguf(gguf_path: Path, vocab: GGUFVocab, out: Path) -> None:
    from transformers import AutoTokenizer

    (out / "tokenizer.model").write_bytes(build_sentencepiece_model(vocab))
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    _patch_tokenizer_config(
        out,
        added_tokens_decoder=added_tokens_decoder(vocab),
        add_bos_token=vocab.add_bos,
        add_eos_token=vocab.add_eos,
    )


def _patch_tokenizer_config(folder: Path, **updates: Any) -> None:
    """Declare what llama.cpp's converter reads from tokenizer_config.json, plus our template."""
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    config.update(updates)
    config["chat_template"] = CHAT_TEMPLATE
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE, encoding="utf-8")
    (folder / "chat_template.json").unlink(missing_ok=True)


def read_gemma3_text_config(folder: Path, *, fix: str = "give a Hugging Face model folder") -> dict[str, Any]:
    """The folder's config.json if it describes a text-only Gemma 3, else one clear error."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise GemmaikuError(f"{folder} has no config.json ({fix})")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise GemmaikuError(f"{config_path} is not valid JSON ({exc})") from None
    model_type = config.get("model_type")
    architectures = config.get("architectures") or [HF_ARCHITECTURE]
    if model_type != HF_MODEL_TYPE or HF_ARCHITECTURE not in architectures:
        raise GemmaikuError(
            f"{folder} holds a {model_type!r} model ({', '.join(architectures)}), not a text-only "
            f"Gemma 3 ({HF_ARCHITECTURE}, model_type {HF_MODEL_TYPE!r})"
        )
    return config


def check_hf_folder(folder: Path) -> dict[str, Any]:
    """The folder's config.json if it is a text-only Gemma 3 with a SentencePiece tokenizer."""
    config = read_gemma3_text_config(folder, fix="give a Hugging Face model folder or a .gguf file")
    if not (folder / "tokenizer.model").is_file():
        raise GemmaikuError(
            f"{folder} has no tokenizer.model (Gemma 3 folders ship one; the GGUF export needs it "
            "to keep the SentencePiece vocabulary)"
        )
    return config


def write_from_hf(folder: Path, out: Path, progress: Progress = _no_progress) -> None:
    """Copy a Gemma 3 folder as float32 weights, its tokenizer files and our chat template."""
    import torch
    from transformers import Gemma3ForCausalLM, GenerationConfig

    check_hf_folder(folder)
    progress("load", 0, 1)
    try:
        model = Gemma3ForCausalLM.from_pretrained(folder, dtype=torch.float32)
    except (OSError, ValueError, RuntimeError) as exc:
        raise GemmaikuError(f"cannot load the model in {folder}: {str(exc).splitlines()[0]}") from None
    model.save_pretrained(out)
    progress("load", 1, 1)
    for name in TOKENIZER_FILES:
        if (folder / name).is_file():
            shutil.copy2(folder / name, out / name)
    if (folder / "generation_config.json").is_file():
        shutil.copy2(folder / "generation_config.json", out / "generation_config.json")
    else:
        config = model.config
        GenerationConfig(
            bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
        ).save_pretrained(out)
    _patch_tokenizer_config(out)
