"""An adapter converted between peft and mlx_lm fuses to the very same weights either way."""

from __future__ import annotations

import json

import pytest

from gemmaiku.errors import GemmaikuError
from gemmaiku.fuse import convert_adapter, fuse_adapter, read_adapter

from .helpers import load_weights, make_mlx_adapter, make_peft_adapter
from .test_mlx import assert_same_weights, mlx_fuse, needs_mlx
from .test_peft import CASES, hf_logits, peft_logits


def assert_identical(a, b):
    assert set(a) == set(b)
    differing = [key for key in a if not a[key].equal(b[key])]
    assert not differing, f"not bit-identical: {differing}"


@pytest.mark.parametrize(
    "case",
    ["plain", "rslora", "patterns", "fan_in_fan_out_and_some_layers", "dora_rslora_patterns"],
)
def test_peft_to_mlx_and_back_fuse_identically(case, tiny_base, tmp_path):
    peft = make_peft_adapter(tiny_base, tmp_path / "peft", **CASES[case])
    mlx = convert_adapter(peft, tmp_path / "mlx", "mlx", base_dir=tiny_base)
    again = convert_adapter(mlx, tmp_path / "peft-again", "peft")
    assert read_adapter(mlx).format == "mlx" and read_adapter(again).format == "peft"

    direct = load_weights(fuse_adapter(tiny_base, peft, tmp_path / "direct"))
    assert_identical(direct, load_weights(fuse_adapter(tiny_base, mlx, tmp_path / "via-mlx")))
    assert_identical(direct, load_weights(fuse_adapter(tiny_base, again, tmp_path / "via-both")))


@pytest.mark.parametrize("dora", [False, True], ids=["lora", "dora"])
def test_mlx_to_peft_fuses_identically_and_peft_agrees(dora, tiny_base, tmp_path):
    import torch

    mlx = make_mlx_adapter(
        tmp_path / "mlx", layers=(1,), num_layers=1, rank=8, scale=20.0, dora=dora
    )
    peft = convert_adapter(mlx, tmp_path / "peft", "peft")
    direct = load_weights(fuse_adapter(tiny_base, mlx, tmp_path / "direct"))
    assert_identical(direct, load_weights(fuse_adapter(tiny_base, peft, tmp_path / "via-peft")))
    # and peft itself reads the converted folder as the same model
    ids = torch.arange(4, 40)[None]
    assert (
        peft_logits(tiny_base, peft, ids) - hf_logits(tmp_path / "direct", ids)
    ).abs().max() < 1e-4


def test_converted_config_says_what_mlx_lm_needs(tiny_base, tmp_path):
    peft = make_peft_adapter(
        tiny_base,
        tmp_path / "peft",
        target_modules=["q_proj", "down_proj"],
        layers_to_transform=[1],
    )
    mlx = convert_adapter(peft, tmp_path / "mlx", "mlx", base_dir=tiny_base)
    config = json.loads((mlx / "adapter_config.json").read_text())
    assert config["fine_tune_type"] == "lora"
    assert config["num_layers"] == 1  # the last block only
    assert config["lora_parameters"]["rank"] == 4
    assert config["lora_parameters"]["scale"] == 2.0  # lora_alpha / r = 8 / 4
    assert sorted(config["lora_parameters"]["keys"]) == ["mlp.down_proj", "self_attn.q_proj"]


@needs_mlx
@pytest.mark.parametrize("case", ["plain", "patterns", "dora"])
def test_mlx_lm_fuses_a_converted_peft_adapter_like_we_do(case, tiny_base, tmp_path):
    peft = make_peft_adapter(tiny_base, tmp_path / "peft", **CASES[case])
    mlx = convert_adapter(peft, tmp_path / "mlx", "mlx", base_dir=tiny_base)
    ours = load_weights(fuse_adapter(tiny_base, peft, tmp_path / "ours"))
    assert_same_weights(ours, load_weights(mlx_fuse(tiny_base, mlx, tmp_path / "theirs")))


def test_mlx_needs_the_block_count_when_not_starting_at_block_0(tiny_base, tmp_path):
    peft = make_peft_adapter(tiny_base, tmp_path / "peft", layers_to_transform=[1])
    with pytest.raises(GemmaikuError, match="give --base"):
        convert_adapter(peft, tmp_path / "mlx", "mlx")
    assert not (tmp_path / "mlx").exists()


def test_unknown_target_format(tiny_base, tmp_path):
    peft = make_peft_adapter(tiny_base, tmp_path / "peft")
    with pytest.raises(GemmaikuError, match="unknown adapter format"):
        convert_adapter(peft, tmp_path / "x", "gguf")
