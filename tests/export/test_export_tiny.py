"""Export on tiny random Gemma 3 folders: metadata, tokenizer, tensor types, values, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from gguf_diff import key_differences, metadata, run_converter, tensor_differences, tensors

from gemmaiku.chat import CHAT_TEMPLATE
from gemmaiku.cli import main
from gemmaiku.errors import GemmaikuError
from gemmaiku.export import export_gguf, inspect_gguf


@pytest.fixture(scope="module")
def tiny_f32(tiny_gemma_tok_dir: Path, tmp_path_factory) -> Path:
    return export_gguf(tiny_gemma_tok_dir, tmp_path_factory.mktemp("tiny-f32") / "tiny.gguf", "f32", progress=False)


def hf_weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(folder / "model.safetensors")


def test_metadata_follows_the_config(tiny_gemma_tok_dir, tiny_f32):
    config = json.loads((tiny_gemma_tok_dir / "config.json").read_text())
    meta = metadata(tiny_f32)
    assert meta["general.architecture"] == "gemma3"
    assert meta["general.file_type"] == 0  # ALL_F32
    expected = {
        "gemma3.context_length": config["max_position_embeddings"],
        "gemma3.embedding_length": config["hidden_size"],
        "gemma3.block_count": config["num_hidden_layers"],
        "gemma3.feed_forward_length": config["intermediate_size"],
        "gemma3.attention.head_count": config["num_attention_heads"],
        "gemma3.attention.head_count_kv": config["num_key_value_heads"],
        "gemma3.attention.key_length": config["head_dim"],
        "gemma3.attention.value_length": config["head_dim"],
        "gemma3.attention.sliding_window": config["sliding_window"],
        "gemma3.rope.freq_base": 1_000_000.0,
        "gemma3.rope.freq_base_swa": 10_000.0,
    }
    assert {k: meta[k] for k in expected} == expected
    assert meta["gemma3.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-6)
    assert meta["tokenizer.chat_template"] == CHAT_TEMPLATE
    assert meta["tokenizer.ggml.model"] == "llama" and meta["tokenizer.ggml.add_space_prefix"] is False


def test_tokenizer_arrays_equal_the_source_vocabulary(tiny_f32, tiny_gemma_vocab):
    vocab = tiny_gemma_vocab
    meta = metadata(tiny_f32)
    assert meta["tokenizer.ggml.tokens"] == vocab.tokens
    assert meta["tokenizer.ggml.scores"] == vocab.scores
    assert meta["tokenizer.ggml.token_type"] == vocab.token_types
    ids = {k: meta[f"tokenizer.ggml.{k}_token_id"] for k in ("bos", "eos", "unknown", "padding")}
    assert ids == {"bos": 2, "eos": 1, "unknown": 3, "padding": 0}
    assert meta["tokenizer.ggml.add_bos_token"] is True and meta["tokenizer.ggml.add_eos_token"] is False


def test_f32_values_are_the_weights_with_norms_plus_one(tiny_gemma_tok_dir, tiny_f32):
    import gguf

    weights = hf_weights(tiny_gemma_tok_dir)
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, 2)
    written = {t.name: t for t in gguf.GGUFReader(tiny_f32).tensors}
    assert "output.weight" not in written  # tied embeddings: no duplicate output tensor
    assert len(written) == len(weights)
    for hf_name, value in weights.items():
        tensor = written[name_map.get_name(hf_name, try_suffixes=(".weight",))]
        expected = value + np.float32(1.0) if hf_name.endswith("norm.weight") else value
        assert np.array_equal(np.asarray(tensor.data).reshape(value.shape), expected), hf_name


@pytest.mark.parametrize(
    ("outtype", "matrix_type", "file_type"),
    [("f32", "F32", 0), ("f16", "F16", 1), ("bf16", "BF16", 32), ("q8_0", "Q8_0", 7)],
)
def test_outtypes_keep_norms_and_vectors_f32(tiny_gemma_tok_dir, tmp_path, outtype, matrix_type, file_type):
    path = export_gguf(tiny_gemma_tok_dir, tmp_path / f"t-{outtype}.gguf", outtype, progress=False)
    info = inspect_gguf(path)
    assert info["metadata"]["general.file_type"] == file_type
    for tensor in info["tensors"]:
        one_d = len(tensor["shape"]) == 1
        assert tensor["type"] == ("F32" if one_d or tensor["name"].endswith("_norm.weight") else matrix_type), tensor
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_q8_0_falls_back_to_f16_where_rows_do_not_fill_blocks():
    import gguf

    from gemmaiku.export.tensors import output_qtype

    q8 = gguf.GGMLQuantizationType.Q8_0
    assert output_qtype("blk.0.ffn_down.weight", (64, 48), q8) == gguf.GGMLQuantizationType.F16
    assert output_qtype("blk.0.ffn_down.weight", (64, 64), q8) == q8
    assert output_qtype("blk.0.attn_q_norm.weight", (32,), q8) == gguf.GGMLQuantizationType.F32


def test_untied_model_writes_the_output_tensor(tmp_path, tiny_gemma_tok_dir):
    import torch
    from transformers import Gemma3ForCausalLM

    folder = tmp_path / "untied"
    shutil.copytree(tiny_gemma_tok_dir, folder)
    model = Gemma3ForCausalLM.from_pretrained(folder)
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(torch.randn_like(model.lm_head.weight))
    model.save_pretrained(folder)
    names = set(tensors(export_gguf(folder, tmp_path / "u.gguf", "f32", progress=False)))
    assert "output.weight" in names and "token_embd.weight" in names


@pytest.mark.slow
def test_tiny_f16_matches_llama_cpp_converter(tiny_gemma_tok_dir, tmp_path, llama_cpp_converter):
    ours = export_gguf(tiny_gemma_tok_dir, tmp_path / "ours.gguf", "f16", progress=False)
    ref = run_converter(llama_cpp_converter, tiny_gemma_tok_dir, tmp_path / "ref.gguf", "f16")
    a, b = metadata(ours), metadata(ref)
    assert key_differences(a, b, ("gemma3.", "tokenizer.")) == []
    assert a["general.file_type"] == b["general.file_type"] == 1
    assert tensor_differences(tensors(ours), tensors(ref)) == []


@pytest.mark.slow
@pytest.mark.parametrize("outtype", ["q8_0", "bf16", "f32"])
def test_tiny_other_outtypes_match_llama_cpp_converter(tiny_gemma_tok_dir, tmp_path, llama_cpp_converter, outtype):
    ours = export_gguf(tiny_gemma_tok_dir, tmp_path / "ours.gguf", outtype, progress=False)
    ref = run_converter(llama_cpp_converter, tiny_gemma_tok_dir, tmp_path / "ref.gguf", outtype)
    assert key_differences(metadata(ours), metadata(ref), ("gemma3.", "tokenizer.", "general.file_type")) == []
    assert tensor_differences(tensors(ours), tensors(ref)) == []


def test_llama_cpp_runs_the_tiny_export_like_transformers(tiny_gemma_tok_dir, tiny_f32):
    llama_cpp = pytest.importorskip("llama_cpp")
    import torch
    from transformers import Gemma3ForCausalLM

    model = Gemma3ForCausalLM.from_pretrained(tiny_gemma_tok_dir, dtype=torch.float32).eval()
    llm = llama_cpp.Llama(str(tiny_f32), n_ctx=64, n_threads=1, logits_all=True, verbose=False)
    ids = [2, 351, 287, 291, 344, 8, 341, 362]  # shorter than the sliding window
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0].numpy()
    llm.eval(ids)
    got = np.array(llm.scores[: len(ids)])
    # F32 weights on both sides: only summation order differs.
    assert np.abs(got - expected).max() < 1e-3


@pytest.mark.parametrize(("outtype", "file_type"), [("q4_k_m", 15), ("q5_k_m", 17), ("q6_k", 18)])
def test_k_quant_through_llama_cpp(tiny_gemma_tok_dir, tmp_path, outtype, file_type):
    pytest.importorskip("llama_cpp")
    path = export_gguf(tiny_gemma_tok_dir, tmp_path / "q.gguf", outtype, progress=False)
    info = inspect_gguf(path)
    assert info["metadata"]["general.file_type"] == file_type
    assert info["metadata"]["tokenizer.chat_template"] == CHAT_TEMPLATE
    assert "F16" not in info["tensor_types"]  # everything 2-D was requantized
    assert [p.name for p in tmp_path.iterdir()] == ["q.gguf"]  # no temporary F16 left


def test_failed_quantize_leaves_no_file(tmp_path):
    pytest.importorskip("llama_cpp")
    from gemmaiku.export import quantize_gguf

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(GemmaikuError, match="could not quantize"):
        quantize_gguf(bad, tmp_path / "out.gguf", "q4_k_m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.gguf"]


# --- bad input: one clear line, no partial output -------------------------------------------


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gemmaiku: error: "), err
    for fragment in fragments:
        assert fragment in lines[0]


def test_rejects_a_non_gemma3_config(tmp_path, tiny_gemma_tok_dir, capsys):
    folder = tmp_path / "llama"
    shutil.copytree(tiny_gemma_tok_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="llama", architectures=["LlamaForCausalLM"])
    (folder / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    out.mkdir()
    code, err = run_cli(["export", str(folder), "-o", str(out / "x.gguf")], capsys)
    assert_one_line_error(code, err, "'llama'", "Gemma 3")
    assert list(out.iterdir()) == []


def test_rejects_truncated_safetensors(tmp_path, tiny_gemma_tok_dir, capsys):
    folder = tmp_path / "cut"
    shutil.copytree(tiny_gemma_tok_dir, folder)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    out.mkdir()
    code, err = run_cli(["export", str(folder), "-o", str(out / "x.gguf")], capsys)
    assert_one_line_error(code, err, "truncated")
    assert list(out.iterdir()) == []


def test_rejects_a_missing_tokenizer(tmp_path, tiny_gemma_tok_dir, capsys):
    folder = tmp_path / "notok"
    shutil.copytree(tiny_gemma_tok_dir, folder)
    (folder / "tokenizer.model").unlink()
    out = tmp_path / "out"
    out.mkdir()
    code, err = run_cli(["export", str(folder), "-o", str(out / "x.gguf")], capsys)
    assert_one_line_error(code, err, "tokenizer.model")
    assert list(out.iterdir()) == []


def test_rejects_an_unwritable_output_path(tmp_path, tiny_gemma_tok_dir, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, err = run_cli(["export", str(tiny_gemma_tok_dir), "-o", str(blocker / "x.gguf")], capsys)
    assert_one_line_error(code, err, "cannot create folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_rejects_a_missing_folder_and_a_bad_gguf(tmp_path, capsys):
    code, err = run_cli(["export", str(tmp_path / "nope"), "-o", str(tmp_path / "x.gguf")], capsys)
    assert_one_line_error(code, err, "no such folder")
    fake = tmp_path / "fake.gguf"
    fake.write_text("hello")
    code, err = run_cli(["inspect", str(fake)], capsys)
    assert_one_line_error(code, err, "not a GGUF file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.gguf"]


def test_inspect_json_summarises_the_file(tiny_f32, capsys):
    main_exit = None
    try:
        main(["inspect", str(tiny_f32), "--json"])
    except SystemExit as exc:  # click may exit 0
        main_exit = exc.code
    assert main_exit in (None, 0)
    info = json.loads(capsys.readouterr().out)
    assert info["architecture"] == "gemma3" and info["tensor_count"] == 2 + 13 * 2
    assert info["metadata"]["tokenizer.ggml.tokens"]["array_length"] == 512
    assert info["tensor_types"] == {"F32": info["tensor_count"]}


def test_inspect_rejects_a_truncated_gguf(tiny_f32, tmp_path, capsys):
    cut = tmp_path / "cut.gguf"
    data = tiny_f32.read_bytes()
    for length in (len(data) - 100, 2000, 10):
        cut.write_bytes(data[:length])
        code, err = run_cli(["inspect", str(cut)], capsys)
        assert_one_line_error(code, err, str(cut))
        assert "truncated" in err or "damaged" in err or "not a GGUF" in err


@pytest.mark.slow
def test_bf16_source_matches_llama_cpp_converter(tiny_gemma_tok_dir, tmp_path, llama_cpp_converter):
    import torch
    from transformers import Gemma3ForCausalLM

    folder = tmp_path / "bf16"
    shutil.copytree(tiny_gemma_tok_dir, folder)
    Gemma3ForCausalLM.from_pretrained(folder).to(torch.bfloat16).save_pretrained(folder)
    ours = export_gguf(folder, tmp_path / "ours.gguf", "f16", progress=False)
    ref = run_converter(llama_cpp_converter, folder, tmp_path / "ref.gguf", "f16")
    assert key_differences(metadata(ours), metadata(ref), ("gemma3.", "tokenizer.")) == []
    assert tensor_differences(tensors(ours), tensors(ref)) == []
