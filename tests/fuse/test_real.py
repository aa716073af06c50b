"""The real Gemma 3 270M: fused logits against peft, fused weights against mlx_lm's fuse."""

from __future__ import annotations

import pytest

from gemmaiku.fuse import convert_adapter, fuse_adapter
from gemmaiku.fuse.base import read_base

from .helpers import load_weights, make_mlx_adapter, make_peft_adapter
from .test_mlx import assert_same_weights, mlx_fuse, needs_mlx

pytestmark = [pytest.mark.slow, pytest.mark.real_model]

# Logits of the real model reach ~90; float32 sums in another order move them by ~1e-4
# (measured 8e-5 to 1.2e-4 for adapters that move logits by 3 to 15).
REAL_LOGIT_ATOL = 1e-3
PROMPT = "<start_of_turn>user\nWrite about the sea<end_of_turn>\n<start_of_turn>model\n"


def layer_shapes(base_dir):
    """Layer-relative projection -> (in_features, out_features), read from the base."""
    base = read_base(base_dir)
    return {
        module.removeprefix("layers.0."): (base.shapes[key][1], base.shapes[key][0])
        for module, key in base.modules.items()
        if module.startswith("layers.0.") and module.endswith("_proj")
    }


def test_real_peft_adapter(real_base_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = make_peft_adapter(real_base_dir, tmp_path / "adapter", r=8, lora_alpha=16, b_gain=0.1)
    out = fuse_adapter(real_base_dir, adapter, tmp_path / "fused")
    ids = AutoTokenizer.from_pretrained(real_base_dir)(PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(real_base_dir).eval()(input_ids=ids).logits
        peft = PeftModel.from_pretrained(
            AutoModelForCausalLM.from_pretrained(real_base_dir), adapter
        ).eval()
        expected = peft(input_ids=ids).logits
        del peft
        fused = AutoModelForCausalLM.from_pretrained(out).eval()(input_ids=ids).logits
    assert (expected - base).abs().max() > 1.0
    assert (fused - expected).abs().max() < REAL_LOGIT_ATOL
    assert fused.argmax(-1).equal(expected.argmax(-1))


@needs_mlx
def test_real_mlx_adapter_matches_mlx_lm_fuse(real_base_dir, tmp_path):
    shapes = layer_shapes(real_base_dir)
    # mlx_lm's defaults: rank 8, scale 20, the last blocks only
    adapter = make_mlx_adapter(
        tmp_path / "adapter",
        layers=range(14, 18),
        keys=tuple(shapes),
        rank=8,
        scale=20.0,
        num_layers=4,
        shapes=shapes,
    )
    ours = load_weights(fuse_adapter(real_base_dir, adapter, tmp_path / "ours"))
    theirs = load_weights(mlx_fuse(real_base_dir, adapter, tmp_path / "theirs"))
    assert_same_weights(ours, theirs)
    base = load_weights(real_base_dir)
    assert sum(not base[key].equal(ours[key]) for key in base) == 4 * len(shapes)


@needs_mlx
def test_real_peft_adapter_converted_to_mlx(real_base_dir, tmp_path):
    """peft -> mlx conversion: ours fuses both identically, and mlx_lm agrees."""
    adapter = make_peft_adapter(
        real_base_dir,
        tmp_path / "peft",
        r=8,
        lora_alpha=16,
        b_gain=0.1,
        rank_pattern={"down_proj": 4},
    )
    mlx = convert_adapter(adapter, tmp_path / "mlx", "mlx", base_dir=real_base_dir)
    ours = load_weights(fuse_adapter(real_base_dir, adapter, tmp_path / "ours"))
    via_mlx = load_weights(fuse_adapter(real_base_dir, mlx, tmp_path / "via-mlx"))
    assert all(ours[key].equal(via_mlx[key]) for key in ours)
    del via_mlx
    assert_same_weights(ours, load_weights(mlx_fuse(real_base_dir, mlx, tmp_path / "theirs")))
