from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader, GGUFWriter

from gemmaiku.errors import GemmaikuError
from gemmaiku.runtime.gguf_info import ArrayInfo, read_gguf_info


@pytest.fixture
def small_gguf(tmp_path: Path) -> Path:
    path = tmp_path / "small.gguf"
    writer = GGUFWriter(str(path), "gemma3")
    writer.add_context_length(4096)
    writer.add_file_type(1)
    writer.add_float32("gemma3.attention.layer_norm_rms_epsilon", 1e-6)
    writer.add_token_list(["<pad>", "<eos>", "hello", "▁world"])
    writer.add_token_scores([0.0, 0.0, -1.5, -2.0])
    writer.add_bool("tokenizer.ggml.add_bos_token", True)
    writer.add_tensor("token_embd.weight", np.ones((4, 8), dtype=np.float16))
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(8, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_metadata_and_tensors_match_gguf_py(small_gguf: Path):
    info = read_gguf_info(small_gguf)
    reader = GGUFReader(small_gguf)
    assert info.metadata["general.architecture"] == "gemma3"
    assert info.metadata["gemma3.context_length"] == 4096
    assert info.metadata["tokenizer.ggml.add_bos_token"] is True
    assert info.metadata["gemma3.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-6)
    assert info.metadata["tokenizer.ggml.tokens"] == ArrayInfo(item_type=8, length=4)
    assert set(info.metadata) == {k for k in reader.fields if not k.startswith("GGUF.")}
    assert info.parameter_count == sum(int(t.n_elements) for t in reader.tensors) == 4 * 8 + 8
    assert info.tensors["token_embd.weight"][0] == (8, 4)  # GGUF lists dims fastest-first


def test_truncated_and_foreign_files_are_clear_errors(small_gguf: Path, tmp_path: Path):
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(small_gguf.read_bytes()[:60])
    with pytest.raises(GemmaikuError, match="truncated or not a valid GGUF"):
        read_gguf_info(truncated)
    foreign = tmp_path / "x.gguf"
    foreign.write_text("not a model")
    with pytest.raises(GemmaikuError, match="not a GGUF file"):
        read_gguf_info(foreign)
