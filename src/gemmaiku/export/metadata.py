"""GGUF metadata for a Gemma 3 folder: tables from config fields to ``gemma3.*`` keys.

The keys and values are those llama.cpp's ``convert_hf_to_gguf.py`` writes for Gemma 3 (tests
compare the two on the same folder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ARCH = "gemma3"


@dataclass(frozen=True)
class Row:
    """One metadata key: its template, how to read it from the config, its GGUF value type."""

    key: str  # "{arch}.context_length"
    read: Callable[[Any], Any]  # config -> value, None to skip
    vtype: str  # "uint32" | "float32" | "string"


def _attr(name: str) -> Callable[[Any], Any]:
    return lambda config: getattr(config, name, None)


def _rope(layer_type: str, field: str) -> Callable[[Any], Any]:
    def read(config: Any) -> Any:
        params = getattr(config, "rope_parameters", None) or {}
        return (params.get(layer_type) or {}).get(field)

    return read


def _rope_scaling_factor(config: Any) -> Any:
    full = (getattr(config, "rope_parameters", None) or {}).get("full_attention") or {}
    return full.get("factor") if full.get("rope_type") == "linear" else None


def _rope_scaling_type(config: Any) -> Any:
    return "linear" if _rope_scaling_factor(config) is not None else None


# Gemma 3 text models; order follows llama.cpp's converter.
GEMMA3_ROWS: tuple[Row, ...] = (
    Row("{arch}.context_length", _attr("max_position_embeddings"), "uint32"),
    Row("{arch}.embedding_length", _attr("hidden_size"), "uint32"),
    Row("{arch}.block_count", _attr("num_hidden_layers"), "uint32"),
    Row("{arch}.feed_forward_length", _attr("intermediate_size"), "uint32"),
    Row("{arch}.attention.head_count", _attr("num_attention_heads"), "uint32"),
    Row("{arch}.attention.layer_norm_rms_epsilon", _attr("rms_norm_eps"), "float32"),
    Row("{arch}.attention.key_length", _attr("head_dim"), "uint32"),
    Row("{arch}.attention.value_length", _attr("head_dim"), "uint32"),
    Row("{arch}.rope.freq_base", _rope("full_attention", "rope_theta"), "float32"),
    Row("{arch}.rope.freq_base_swa", _rope("sliding_attention", "rope_theta"), "float32"),
    Row("{arch}.rope.scaling.type", _rope_scaling_type, "string"),
    Row("{arch}.rope.scaling.factor", _rope_scaling_factor, "float32"),
    Row("{arch}.final_logit_softcapping", _attr("final_logit_softcapping"), "float32"),
    Row("{arch}.attention.sliding_window", _attr("sliding_window"), "uint32"),
    Row("{arch}.attention.head_count_kv", _attr("num_key_value_heads"), "uint32"),
)


def hparam_items(config: Any) -> list[tuple[str, Any, str]]:
    """(key, value, vtype) for every row the config has a value for."""
    items = []
    for row in GEMMA3_ROWS:
        value = row.read(config)
        if value is not None:
            items.append((row.key.format(arch=ARCH), value, row.vtype))
    return items


def general_items(name: str, size_label: str, file_type: int) -> list[tuple[str, Any, str]]:
    import gguf

    return [
        ("general.type", "model", "string"),
        ("general.name", name, "string"),
        ("general.size_label", size_label, "string"),
        ("general.license", "gemma", "string"),
        ("general.quantization_version", gguf.GGML_QUANT_VERSION, "uint32"),
        ("general.file_type", file_type, "uint32"),
    ]
