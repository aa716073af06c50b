"""Export of the real Gemma 3 270M: conformance with llama.cpp's converter and the source GGUF,
and llama.cpp running the result like transformers runs the folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf_diff import array, key_differences, metadata, run_converter, tensor_differences, tensors

from gemmaiku.export import export_gguf, inspect_gguf

pytestmark = [pytest.mark.slow, pytest.mark.real_model]

PROMPTS = ["Monday, Tuesday, Wednesday,", "The old pond, a frog jumps in", "def fibonacci(n):"]
TRICKY = [
    "Hello world",
    "    def f(x):\n\treturn x  # two  spaces",
    "emoji 🙂🌸 and CJK 日本語の俳句",
    "digits 1234567890 and 3.14159",
    "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
    "trailing spaces   \n\n\n  leading",
    "a  b   c    d",
    " leading space",
]
# The folder holds float32 weights; the F16 file rounds them. Measured on this model: max |diff|
# 0.017-0.028 over logits of magnitude up to ~32, every argmax equal.
LOGIT_ATOL = 0.1


@pytest.fixture(scope="module")
def real_f16(real_base_dir: Path, tmp_path_factory) -> Path:
    return export_gguf(real_base_dir, tmp_path_factory.mktemp("real") / "gemma3-270m-f16.gguf", "f16", progress=False)


@pytest.fixture(scope="module")
def source_gguf(real_base_dir) -> Path:
    from gemmaiku.base import ensure_source_gguf

    return ensure_source_gguf()


def test_f16_matches_llama_cpp_converter(real_base_dir, real_f16, tmp_path, llama_cpp_converter):
    ref = run_converter(llama_cpp_converter, real_base_dir, tmp_path / "ref-f16.gguf", "f16")
    ours_meta, ref_meta = metadata(real_f16), metadata(ref)
    assert key_differences(ours_meta, ref_meta, ("gemma3.", "tokenizer.")) == []
    assert ours_meta["general.file_type"] == ref_meta["general.file_type"] == 1
    assert tensor_differences(tensors(real_f16), tensors(ref)) == []


def test_vocabulary_and_hparams_equal_the_source_gguf(real_f16, source_gguf):
    ours, source = metadata(real_f16), metadata(source_gguf)
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        assert ours[key] == source[key], key  # the encoded arrays, byte for byte
    assert array(real_f16, "tokenizer.ggml.tokens")[105:107] == ["<start_of_turn>", "<end_of_turn>"]
    # The source predates rope.freq_base_swa and has no chat template; everything else agrees.
    assert key_differences(ours, source, ("gemma3.", "tokenizer.")) == [
        "gemma3.rope.freq_base_swa",
        "tokenizer.chat_template",
        "tokenizer.ggml.mask_token_id",
    ]
    assert ours["gemma3.rope.freq_base_swa"] == 10_000.0


def test_norms_round_trip_bit_exactly_through_the_base_folder(real_f16, source_gguf):
    ours, source = tensors(real_f16), tensors(source_gguf)
    norms = [name for name in source if name.endswith("_norm.weight")]
    assert len(norms) == 1 + 6 * 18
    assert tensor_differences({n: ours[n] for n in norms}, {n: source[n] for n in norms}) == []


@pytest.fixture(scope="module")
def llm(real_f16):
    llama_cpp = pytest.importorskip("llama_cpp")
    return llama_cpp.Llama(str(real_f16), n_ctx=256, n_threads=2, logits_all=True, verbose=False)


def test_llama_cpp_tokenizes_like_the_hf_tokenizer(real_base_dir, llm):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(real_base_dir)
    for text in TRICKY:
        assert llm.tokenize(text.encode(), add_bos=True, special=True) == tokenizer(text).input_ids, text


def test_llama_cpp_and_transformers_agree(real_base_dir, llm):
    import torch
    from transformers import AutoTokenizer, Gemma3ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(real_base_dir)
    model = Gemma3ForCausalLM.from_pretrained(real_base_dir, dtype=torch.float32).eval()
    for prompt in PROMPTS:
        ids = tokenizer(prompt).input_ids
        with torch.no_grad():
            expected_logits = model(torch.tensor([ids])).logits[0].numpy()
            expected_tokens = model.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False)[0, len(ids):]
        llm.reset()
        llm.eval(ids)
        logits = np.array(llm.scores[: len(ids)])
        assert np.abs(logits - expected_logits).max() < LOGIT_ATOL, prompt
        assert (logits.argmax(-1) == expected_logits.argmax(-1)).all(), prompt
        llm.reset()
        greedy = []
        for token in llm.generate(ids, temp=0.0, top_k=1):
            greedy.append(token)
            if len(greedy) == 12:
                break
        assert greedy == expected_tokens.tolist(), prompt


def test_q4_k_m_has_the_source_files_tensor_mix(real_base_dir, tmp_path, source_gguf):
    pytest.importorskip("llama_cpp")
    path = export_gguf(real_base_dir, tmp_path / "q4.gguf", "q4_k_m", progress=False)
    ours, source = inspect_gguf(path), inspect_gguf(source_gguf)
    assert ours["tensor_types"] == source["tensor_types"]
    assert ours["metadata"]["general.file_type"] == 15
    assert abs(ours["file_bytes"] - source["file_bytes"]) < 10_000  # the chat template and a key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q4.gguf"]
