"""The real Gemma 3 270M base folder: config, weights, tokenizer, chat template, reuse."""

from __future__ import annotations

import json
import os

import pytest

from gemmaiku.base import ensure_base, read_manifest
from gemmaiku.chat import DEFAULT_SYSTEM_PROMPT, render_chat

pytestmark = [pytest.mark.slow, pytest.mark.real_model]

CONVERSATIONS = [
    [{"role": "user", "content": "Tell me about the sea."}],
    [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": "What is rain?"}],
    [
        {"role": "system", "content": "  Answer briefly.\n"},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Soft hello drifts in\nmorning light on paper walls\na bow, then silence"},
        {"role": "user", "content": "  And the moon? "},
    ],
    [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three\n\nfour"},
        {"role": "assistant", "content": "five"},
    ],
]

TRICKY = [
    "Hello world",
    "    def f(x):\n\treturn x  # two  spaces",
    "emoji 🙂🌸 and CJK 日本語の俳句",
    "digits 1234567890 and 3.14159",
    "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
    "trailing spaces   \n\n\n  leading",
    "ﬁ ligature, Ω, é vs é",
]


@pytest.fixture(scope="module")
def gguf_py_source(real_base_dir):
    """gguf-py's own reader on the bundled source GGUF (independent of ours; ~10-20 s to parse)."""
    import gguf

    from gemmaiku.base import ensure_source_gguf

    return gguf.GGUFReader(ensure_source_gguf())


@pytest.fixture(scope="module")
def tokenizer(real_base_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(real_base_dir)


def test_folder_is_float32_gemma3_270m(real_base_dir):
    config = json.loads((real_base_dir / "config.json").read_text())
    assert config["architectures"] == ["Gemma3ForCausalLM"]
    assert config["model_type"] == "gemma3_text"
    assert (config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]) == (640, 18, 2048)
    assert (config["num_attention_heads"], config["num_key_value_heads"], config["head_dim"]) == (4, 1, 256)
    assert config["sliding_window"] == 512 and config["vocab_size"] == 262144
    assert config["rms_norm_eps"] == 1e-6 and config["query_pre_attn_scalar"] == 256
    assert config["rope_parameters"]["full_attention"]["rope_theta"] == 1_000_000.0
    assert config["rope_parameters"]["sliding_attention"]["rope_theta"] == 10_000.0
    assert config["layer_types"].count("full_attention") == 3
    assert "quantization_config" not in config
    generation = json.loads((real_base_dir / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [1, 106]


def test_weights_are_float32_without_llama_cpp_norm_offset(real_base_dir, gguf_py_source):
    from safetensors import safe_open

    with safe_open(real_base_dir / "model.safetensors", "np") as f:
        keys = set(f.keys())
        assert "lm_head.weight" not in keys  # tied to the embeddings
        assert len(keys) == 236
        assert f.get_tensor("model.embed_tokens.weight").shape == (262144, 640)
        for key in keys:
            assert f.get_slice(key).get_dtype() == "F32"
        norm = f.get_tensor("model.norm.weight")
    source = next(t for t in gguf_py_source.tensors if t.name == "output_norm.weight")
    # HF keeps w where llama.cpp keeps 1 + w, and taking the 1 off and back is exact.
    assert (norm + 1.0 == source.data).all()


def test_sentencepiece_model_matches_hf_tokenizer(real_base_dir, tokenizer):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(real_base_dir / "tokenizer.model"))
    assert sp.get_piece_size() == 262144
    assert (sp.bos_id(), sp.eos_id(), sp.unk_id(), sp.pad_id()) == (2, 1, 3, 0)
    for text in TRICKY:
        if "<start_of_turn>" in text:
            continue  # SentencePiece never matches control tokens in raw text; HF does
        assert [2, *sp.encode(text)] == tokenizer(text).input_ids, text


def test_added_tokens_declared_like_the_source(real_base_dir):
    config = json.loads((real_base_dir / "tokenizer_config.json").read_text())
    added = config["added_tokens_decoder"]
    assert len(added) == 6249 + 165
    assert added["3"] == {**added["3"], "content": "<unk>", "special": True}
    assert added["105"]["content"] == "<start_of_turn>" and added["105"]["special"]
    assert added["107"]["content"] == "\n" and not added["107"]["special"]
    spaces = [v["content"] for v in added.values() if set(v["content"]) == {"\u2581"}]
    assert len(spaces) == 30
    assert config["add_bos_token"] is True and config["add_eos_token"] is False


@pytest.mark.parametrize("index", range(len(CONVERSATIONS)))
@pytest.mark.parametrize("add_generation_prompt", [False, True])
def test_chat_template_matches_render_chat(tokenizer, index, add_generation_prompt):
    messages = CONVERSATIONS[index]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    assert text == render_chat(messages, add_generation_prompt=add_generation_prompt)


def test_chat_template_tokens_start_with_a_single_bos(tokenizer):
    ids = tokenizer.apply_chat_template(CONVERSATIONS[1], add_generation_prompt=True, tokenize=True, return_dict=False)
    assert ids[:2] == [2, 105] and ids.count(2) == 1
    assert tokenizer.decode(ids[-3:]) == "<start_of_turn>model\n"


def test_second_call_reuses_the_cached_folder(real_base_dir):
    before = os.stat(real_base_dir / "model.safetensors").st_mtime_ns
    again = ensure_base(output=real_base_dir, progress=False)
    assert again == real_base_dir
    assert os.stat(real_base_dir / "model.safetensors").st_mtime_ns == before
    assert read_manifest(real_base_dir)["source"]["kind"] == "bundled"


def test_model_loads_and_continues_text(real_base_dir, tokenizer):
    import torch
    from transformers import Gemma3ForCausalLM

    model = Gemma3ForCausalLM.from_pretrained(real_base_dir, dtype=torch.float32).eval()
    ids = tokenizer("Monday, Tuesday, Wednesday, Thursday,", return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert tokenizer.decode(out[0, ids.shape[1]:]).startswith(" Friday")


def test_our_gguf_reader_agrees_with_gguf_py(gguf_py_source):
    import gguf
    import numpy as np

    from gemmaiku.base import ensure_source_gguf
    from gemmaiku.base.gguf_io import open_gguf

    ours, theirs = open_gguf(ensure_source_gguf()), gguf_py_source
    expected = {k: f.contents() for k, f in theirs.fields.items() if not k.startswith("GGUF.")}
    assert ours.metadata == expected
    by_name = {t.name: t for t in theirs.tensors}
    assert [t.name for t in ours.tensors] == list(by_name)
    for info in ours.tensors[:24]:
        reference = by_name[info.name]
        assert (info.offset, info.n_bytes, info.ggml_type) == (reference.data_offset, int(reference.n_bytes), int(reference.tensor_type))
        assert np.array_equal(ours.dequantize(info), gguf.quants.dequantize(reference.data, reference.tensor_type))
