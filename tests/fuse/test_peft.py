"""Fusing peft adapters: the fused model computes what base + adapter (peft, unmerged) computes."""

from __future__ import annotations

import json

import pytest

from gemmaiku.fuse import fuse_adapter

from .helpers import ALL_PROJECTIONS, load_weights, make_peft_adapter

# Float32 logits of the fused model against the unmerged PeftModel on the tiny model. Measured:
# at most 6e-6 (DoRA; 3e-7 to 3e-6 for LoRA) while the adapter moves logits by ~1; the bound
# leaves room for other BLAS builds.
LOGIT_ATOL = 1e-4

CASES = {
    "plain": {},
    "rslora": {"use_rslora": True, "r": 8, "lora_alpha": 16},
    "patterns": {
        "r": 4,
        "lora_alpha": 8,
        # peft's rules: a key names the whole module path or a dotted suffix of it, as a regex;
        # the first matching key wins.
        "rank_pattern": {"layers.1.mlp.down_proj": 2, r"layers\.0\.self_attn\.(q|v)_proj": 6},
        "alpha_pattern": {"o_proj": 3, r"model\.layers\.1\..*": 32},
    },
    "rslora_patterns": {
        "use_rslora": True,
        "rank_pattern": {"down_proj": 8},
        "alpha_pattern": {"q_proj": 2},
    },
    "fan_in_fan_out_and_some_layers": {
        # peft resets fan_in_fan_out to False on nn.Linear (all of Gemma's projections).
        "fan_in_fan_out": True,
        "target_modules": ["q_proj", "down_proj"],
        "layers_to_transform": [1],
    },
    "regex_targets": {"target_modules": r".*\.(k_proj|up_proj)"},
    # DoRA: each row of W + scale * B @ A rescaled to the learned magnitude
    "dora": {"use_dora": True},
    "dora_rslora_patterns": {"use_dora": True, "use_rslora": True, "rank_pattern": {"v_proj": 2}},
}


def peft_logits(base, adapter, ids):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).eval()
    with torch.no_grad():
        return model(input_ids=ids).logits


def hf_logits(folder, ids):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.mark.parametrize("case", CASES)
def test_fused_logits_equal_unmerged_peft(case, tiny_base, tmp_path):
    import torch

    adapter = make_peft_adapter(tiny_base, tmp_path / "adapter", **CASES[case])
    out = fuse_adapter(tiny_base, adapter, tmp_path / "fused")
    ids = torch.randint(4, 512, (2, 24), generator=torch.Generator().manual_seed(0))

    expected = peft_logits(tiny_base, adapter, ids)
    fused = hf_logits(out, ids)
    base = hf_logits(tiny_base, ids)

    assert (expected - base).abs().max() > 0.05  # the adapter really changes the model
    assert (fused - expected).abs().max() < LOGIT_ATOL


@pytest.mark.parametrize("case", ["patterns", "dora"])
def test_fused_weights_equal_peft_merge(case, tiny_base, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = make_peft_adapter(tiny_base, tmp_path / "adapter", **CASES[case])
    ours = load_weights(fuse_adapter(tiny_base, adapter, tmp_path / "fused"))
    merged = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_base), adapter
    ).merge_and_unload()
    theirs = merged.state_dict()
    assert set(ours) <= set(theirs)
    for key, tensor in ours.items():
        torch.testing.assert_close(tensor, theirs[key], rtol=1e-6, atol=1e-6)


def test_output_is_a_hugging_face_folder_like_the_base(tiny_base, tmp_path):
    adapter = make_peft_adapter(tiny_base, tmp_path / "adapter", target_modules=["q_proj"])
    out = fuse_adapter(tiny_base, adapter, tmp_path / "fused")
    base, fused = load_weights(tiny_base), load_weights(out)

    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in tiny_base.iterdir())
    assert set(fused) == set(base)  # tied embeddings: still no lm_head.weight
    assert "lm_head.weight" not in fused
    changed = {key for key in base if not base[key].equal(fused[key])}
    assert changed == {
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.1.self_attn.q_proj.weight",
    }
    assert all(fused[key].dtype == base[key].dtype for key in base)
    # norms are copied bit for bit: the HF convention, no +1
    assert all(base[key].equal(fused[key]) for key in base if key.endswith("norm.weight"))
    assert (out / "config.json").read_bytes() == (tiny_base / "config.json").read_bytes()
    assert (out / "tokenizer.json").read_bytes() == (tiny_base / "tokenizer.json").read_bytes()


def test_dtype_casts_weights_and_config(tiny_base, tmp_path):
    import torch

    adapter = make_peft_adapter(tiny_base, tmp_path / "adapter")
    out32 = fuse_adapter(tiny_base, adapter, tmp_path / "f32")
    out16 = fuse_adapter(tiny_base, adapter, tmp_path / "bf16", dtype="bfloat16")
    w32, w16 = load_weights(out32), load_weights(out16)
    assert all(t.dtype == torch.bfloat16 for t in w16.values())
    # merged in float32, rounded once
    assert all(w16[key].equal(w32[key].to(torch.bfloat16)) for key in w32)
    assert json.loads((out16 / "config.json").read_text())["dtype"] == "bfloat16"


def test_sharded_base(tiny_base, tmp_path):
    """A base saved in several shards is fused shard by shard, index included."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    sharded = tmp_path / "sharded"
    AutoModelForCausalLM.from_pretrained(tiny_base).save_pretrained(sharded, max_shard_size="100KB")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_base / name, sharded / name)
    assert (sharded / "model.safetensors.index.json").exists()
    adapter = make_peft_adapter(tiny_base, tmp_path / "adapter")
    single = load_weights(fuse_adapter(tiny_base, adapter, tmp_path / "single"))
    out = fuse_adapter(sharded, adapter, tmp_path / "fused")
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(single)
    assert index["metadata"]["total_size"] == sum(
        t.numel() * t.element_size() for t in single.values()
    )
    fused = load_weights(out)
    assert all(fused[key].equal(single[key]) for key in single)
    ids = torch.arange(4, 20)[None]
    assert hf_logits(out, ids).equal(hf_logits(tmp_path / "single", ids))


def test_all_projections_default(tiny_base, tmp_path):
    """The common case, every projection adapted, touches exactly 7 weights per block."""
    adapter = make_peft_adapter(tiny_base, tmp_path / "adapter")
    base, fused = (
        load_weights(tiny_base),
        load_weights(fuse_adapter(tiny_base, adapter, tmp_path / "f")),
    )
    changed = {key for key in base if not base[key].equal(fused[key])}
    assert len(changed) == 2 * len(ALL_PROJECTIONS)


@pytest.mark.parametrize("tied", [True, False])
def test_stored_lm_head(tied, tiny_base, tmp_path):
    """A tied lm_head stored anyway is dropped (HF convention); an untied one is kept."""
    import shutil

    from safetensors.torch import save_file

    from .helpers import edit_json

    base = shutil.copytree(tiny_base, tmp_path / "base")
    weights = load_weights(base)
    weights["lm_head.weight"] = weights["model.embed_tokens.weight"].clone()
    save_file(weights, base / "model.safetensors", metadata={"format": "pt"})
    edit_json(base / "config.json", tie_word_embeddings=tied)
    adapter = make_peft_adapter(tiny_base, tmp_path / "adapter")
    fused = load_weights(fuse_adapter(base, adapter, tmp_path / "out"))
    assert ("lm_head.weight" in fused) is not tied
