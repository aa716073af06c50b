"""One outtype table: the export and pipeline CLIs offer it, the writers follow it; one norm rule."""

from __future__ import annotations

import pytest

from gemmaiku.base.convert import is_norm
from gemmaiku.export.cli import export
from gemmaiku.export.outtypes import FLOAT_OUTTYPES, K_QUANTS, OUTTYPES
from gemmaiku.pipeline.cli import pipeline


def _choices(command) -> list[str]:
    (option,) = [p for p in command.params if p.name == "outtype"]
    return list(option.type.choices)


def test_both_clis_offer_the_table():
    assert _choices(export) == _choices(pipeline) == list(OUTTYPES)
    assert set(FLOAT_OUTTYPES) | set(K_QUANTS) == set(OUTTYPES) and not set(FLOAT_OUTTYPES) & set(K_QUANTS)
    assert "erases" in OUTTYPES["q4_k_m"].note and "keeps" in OUTTYPES["q8_0"].note


def test_every_row_names_real_gguf_and_llama_cpp_types():
    gguf = pytest.importorskip("gguf")
    for row in OUTTYPES.values():
        assert row.file_type in gguf.LlamaFileType.__members__
        if row.tensor_type:
            assert row.tensor_type in gguf.GGMLQuantizationType.__members__
    llama_cpp = pytest.importorskip("llama_cpp")
    assert all(hasattr(llama_cpp, OUTTYPES[name].llama_ftype) for name in K_QUANTS)


def test_one_norm_rule_for_import_and_export():
    gguf = pytest.importorskip("gguf")
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, 2)
    gemma3 = {names.get_name(hf) + ".weight" for hf in (
        "model.layers.0.input_layernorm", "model.layers.0.post_attention_layernorm",
        "model.layers.0.pre_feedforward_layernorm", "model.layers.0.post_feedforward_layernorm",
        "model.layers.0.self_attn.q_norm", "model.layers.0.self_attn.k_norm", "model.norm")}
    assert all(is_norm(name) for name in gemma3)
    assert not any(is_norm(n) for n in ("token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_down.weight"))
