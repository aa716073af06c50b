"""The base model folder a LoRA is fused into: config, safetensors shards, tensor shapes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from gemmaiku.errors import GemmaikuError
from gemmaiku.fuse.lora import canonical_module

# config.json model_type -> where its text model's settings live ("" = top level).
SUPPORTED_MODEL_TYPES = {"gemma3_text": "", "gemma3": "text_config"}
SINGLE_WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
# Files besides the weights that make a loadable Hugging Face folder; copied as they are.
COPIED_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "preprocessor_config.json",
    "processor_config.json",
)
# Text-model settings that must agree between a base and the model an adapter was trained on.
ARCH_KEYS = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
)


@dataclass
class BaseFolder:
    path: Path
    config: dict
    shards: list[str]  # safetensors files, in order
    index: dict | None  # model.safetensors.index.json, when the base is sharded
    shapes: dict[str, tuple[int, ...]]  # tensor key -> shape
    modules: dict[str, str]  # canonical module -> key of its weight
    tied: bool  # lm_head shares the embedding matrix

    @property
    def model_type(self) -> str:
        return self.config["model_type"]

    @property
    def text_config(self) -> dict:
        return text_config(self.config)

    @property
    def num_layers(self) -> int:
        return int(self.text_config.get("num_hidden_layers", 0))

    def skipped_keys(self) -> set[str]:
        """Tensors not written: a tied lm_head is the embedding matrix, stored once (HF convention)."""
        return {key for key in self.shapes if self.tied and key.endswith("lm_head.weight")}


def text_config(config: dict) -> dict:
    sub = SUPPORTED_MODEL_TYPES.get(config.get("model_type", ""), "")
    return config.get(sub, {}) if sub else config


def read_config(path: Path) -> dict:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GemmaikuError(
            f"no config.json in {path} (give a Hugging Face model folder, e.g. from `gemmaiku base`)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GemmaikuError(
            f"cannot read {path / 'config.json'}: {exc} (restore the base model's config)"
        ) from None
    if not isinstance(config, dict):
        raise GemmaikuError(
            f"{path / 'config.json'} is not a JSON object (restore the base model's config)"
        )
    return config


def read_base(path: str | Path) -> BaseFolder:
    """Read a Hugging Face Gemma 3 folder's config and tensor shapes (no weights loaded)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_dir():
        raise GemmaikuError(f"no base model folder at {path} (make one with `gemmaiku base`)")
    config = read_config(path)
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise GemmaikuError(
            f"{path} holds a {model_type!r} model; fusing supports Gemma 3 ({', '.join(SUPPORTED_MODEL_TYPES)})"
        )
    index = None
    if (path / WEIGHTS_INDEX).is_file():
        try:
            index = json.loads((path / WEIGHTS_INDEX).read_text(encoding="utf-8"))
            shards = sorted(set(index["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GemmaikuError(
                f"cannot read {path / WEIGHTS_INDEX}: {exc} (restore the base model's index)"
            ) from None
    elif (path / SINGLE_WEIGHTS).is_file():
        shards = [SINGLE_WEIGHTS]
    else:
        raise GemmaikuError(
            f"no {SINGLE_WEIGHTS} in {path} (the base must be a safetensors Hugging Face folder, e.g. from `gemmaiku base`)"
        )
    shapes: dict[str, tuple[int, ...]] = {}
    for shard in shards:
        try:
            with safe_open(path / shard, framework="pt") as handle:
                for key in handle.keys():  # noqa: SIM118 (safe_open is not a dict)
                    shapes[key] = tuple(handle.get_slice(key).get_shape())
        except FileNotFoundError:
            raise GemmaikuError(
                f"{path} lists weights file {shard} but it is missing (restore the base model)"
            ) from None
        except (OSError, SafetensorError) as exc:
            raise GemmaikuError(
                f"cannot read {path / shard}: {exc} (is it a complete safetensors file?)"
            ) from None
    modules = {
        canonical_module(key.removesuffix(".weight")): key
        for key in shapes
        if key.endswith(".weight")
    }
    tied = bool(
        text_config(config).get("tie_word_embeddings", config.get("tie_word_embeddings", True))
    )
    return BaseFolder(path, config, shards, index, shapes, modules, tied)


def check_compatible_config(base: BaseFolder, other: dict, source: str) -> None:
    """Refuse when another model's config (the one an adapter names) is a different architecture."""
    other_type = other.get("model_type")
    if other_type not in SUPPORTED_MODEL_TYPES:
        raise GemmaikuError(
            f"the adapter was trained on a {other_type!r} model ({source}), not Gemma 3 like {base.path}; use an adapter made for this base"
        )
    theirs, ours = text_config(other), base.text_config
    for key in ARCH_KEYS:
        if key in theirs and key in ours and theirs[key] != ours[key]:
            raise GemmaikuError(
                f"the adapter was trained on a model with {key} {theirs[key]} ({source}), but {base.path} has {ours[key]}; use an adapter made for this base"
            )
