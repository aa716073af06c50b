"""Bad inputs: one clear GemmaikuError line, and nothing written."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from gemmaiku.cli import main
from gemmaiku.errors import GemmaikuError
from gemmaiku.fuse import fuse_adapter

from .helpers import TINY_SHAPES, edit_json, make_mlx_adapter, make_peft_adapter


@pytest.fixture(scope="module")
def peft_adapter(tiny_base, tmp_path_factory):
    return make_peft_adapter(tiny_base, tmp_path_factory.mktemp("adapters") / "peft")


@pytest.fixture
def copied(peft_adapter, tmp_path):
    """A private copy of the good peft adapter, to break."""
    return shutil.copytree(peft_adapter, tmp_path / "adapter")


def refuses(base, adapter, out, match):
    with pytest.raises(GemmaikuError, match=match) as info:
        fuse_adapter(base, adapter, out)
    message = str(info.value)
    assert "\n" not in message
    assert not out.exists()
    assert not [
        p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")
    ]  # no temp left
    return message


def test_wrong_shapes(tiny_base, tmp_path):
    from tests.conftest import make_tiny_gemma3

    other = make_tiny_gemma3(tmp_path / "wider", hidden_size=96)
    adapter = make_peft_adapter(other, tmp_path / "adapter")
    edit_json(adapter / "adapter_config.json", base_model_name_or_path=None)  # only shapes tell
    message = refuses(tiny_base, adapter, tmp_path / "out", "does not fit the base")
    assert (
        "layers.0.mlp.down_proj (adapter update 96x128, base weight 64x128) and 13 more" in message
    )


def test_more_blocks_than_the_base(tiny_base, tmp_path):
    adapter = make_mlx_adapter(tmp_path / "adapter", layers=(0, 1, 2, 3), num_layers=4)
    refuses(
        tiny_base, adapter, tmp_path / "out", r"block 2, but the base has 2 blocks\) and 13 more"
    )


def test_mlx_tensor_outside_num_layers(tiny_base, tmp_path):
    adapter = make_mlx_adapter(tmp_path / "adapter", layers=(0, 1), num_layers=1)
    refuses(tiny_base, adapter, tmp_path / "out", r"num_layers 1 adapts blocks 1-1 only")


@pytest.mark.parametrize(
    "base_model, match",
    [
        ("meta-llama/Llama-3.2-1B", r"Llama-3.2-1B \(Llama\), not Gemma 3"),
        ("Qwen/Qwen2.5-0.5B-Instruct", r"\(Qwen\), not Gemma 3"),
        ("google/gemma-2-2b", r"\(Gemma 1/2\), not Gemma 3"),
    ],
)
def test_peft_adapter_for_another_architecture(base_model, match, tiny_base, copied, tmp_path):
    edit_json(copied / "adapter_config.json", base_model_name_or_path=base_model)
    refuses(tiny_base, copied, tmp_path / "out", match)


@pytest.mark.parametrize("name", ["google/gemma-3-270m-it", "/gone/llama-runs/gemma3-base", None])
def test_gemma3_and_unknown_names_are_accepted(name, tiny_base, copied, tmp_path):
    """Only the model's own name counts (not the folders above it); no name: shapes decide."""
    edit_json(copied / "adapter_config.json", base_model_name_or_path=name)
    assert fuse_adapter(tiny_base, copied, tmp_path / "out").is_dir()


def test_adapter_trained_on_a_local_model_of_other_dimensions(tiny_base, copied, tmp_path):
    from tests.conftest import make_tiny_gemma3

    other = make_tiny_gemma3(
        tmp_path / "deeper",
        num_hidden_layers=4,
        layer_types=["sliding_attention"] * 3 + ["full_attention"],
    )
    edit_json(copied / "adapter_config.json", base_model_name_or_path=str(other))
    refuses(tiny_base, copied, tmp_path / "out", "num_hidden_layers 4")


def test_mlx_adapter_for_another_model_type(tiny_base, tmp_path):
    adapter = make_mlx_adapter(tmp_path / "adapter", model_type="llama")
    refuses(tiny_base, adapter, tmp_path / "out", "'llama' model, not Gemma 3")


def test_peft_task_other_than_causal_lm(tiny_base, copied, tmp_path):
    edit_json(copied / "adapter_config.json", task_type="SEQ_CLS")
    refuses(tiny_base, copied, tmp_path / "out", "task SEQ_CLS, not CAUSAL_LM")


@pytest.mark.parametrize(
    "remove, match",
    [
        ("adapter_config.json", "no adapter_config.json in"),
        (
            "adapter_model.safetensors",
            "has a peft adapter_config.json but no adapter_model.safetensors",
        ),
    ],
)
def test_missing_adapter_files(remove, match, tiny_base, copied, tmp_path):
    (copied / remove).unlink()
    refuses(tiny_base, copied, tmp_path / "out", match)


def test_missing_adapter_folder(tiny_base, tmp_path):
    refuses(tiny_base, tmp_path / "nowhere", tmp_path / "out", "no adapter folder at")


def test_truncated_adapter_weights(tiny_base, copied, tmp_path):
    weights = copied / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    refuses(tiny_base, copied, tmp_path / "out", "is it a complete safetensors file")


@pytest.mark.parametrize(
    "remove, match",
    [("config.json", "no config.json in"), ("model.safetensors", "no model.safetensors in")],
)
def test_missing_base_files(remove, match, tiny_base, peft_adapter, tmp_path):
    base = shutil.copytree(tiny_base, tmp_path / "base")
    (base / remove).unlink()
    refuses(base, peft_adapter, tmp_path / "out", match)


def test_base_of_another_architecture(tiny_base, peft_adapter, tmp_path):
    base = shutil.copytree(tiny_base, tmp_path / "base")
    edit_json(base / "config.json", model_type="llama")
    refuses(base, peft_adapter, tmp_path / "out", "holds a 'llama' model; fusing supports Gemma 3")


def test_peft_dora_tensors_without_use_dora(tiny_base, tmp_path):
    adapter = make_peft_adapter(tiny_base, tmp_path / "adapter", use_dora=True)
    edit_json(adapter / "adapter_config.json", use_dora=False)
    refuses(
        tiny_base,
        adapter,
        tmp_path / "out",
        "says it is plain LoRA but .* has a DoRA magnitude vector",
    )


def test_peft_use_dora_without_magnitudes(tiny_base, copied, tmp_path):
    edit_json(copied / "adapter_config.json", use_dora=True)
    refuses(tiny_base, copied, tmp_path / "out", "says it is DoRA but .* has no magnitude vector")


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"modules_to_save": ["lm_head"]}, "saves whole modules"),
        ({"bias": "all"}, "trains biases"),
        ({"lora_bias": True}, "bias on lora_B"),
        ({"init_lora_weights": "pissa"}, "rewrites the base weights"),
        ({"peft_type": "IA3"}, "peft IA3 adapter"),
    ],
)
def test_peft_features_that_cannot_be_fused(changes, match, tiny_base, copied, tmp_path):
    edit_json(copied / "adapter_config.json", **changes)
    refuses(tiny_base, copied, tmp_path / "out", match)


def test_peft_weights_its_config_does_not_target(tiny_base, copied, tmp_path):
    edit_json(copied / "adapter_config.json", target_modules=["q_proj"])
    refuses(tiny_base, copied, tmp_path / "out", "target_modules do not target")


def test_peft_rank_disagreeing_with_config(tiny_base, copied, tmp_path):
    edit_json(copied / "adapter_config.json", rank_pattern={"down_proj": 2})
    refuses(tiny_base, copied, tmp_path / "out", "has rank 4 but its config")


@pytest.mark.parametrize(
    "kind, match",
    [("full", "full fine-tune"), ("qlora", "unknown fine_tune_type")],
)
def test_mlx_fine_tune_types_that_cannot_be_fused(kind, match, tiny_base, tmp_path):
    adapter = make_mlx_adapter(tmp_path / "adapter", fine_tune_type=kind)
    refuses(tiny_base, adapter, tmp_path / "out", match)


def test_mlx_dora_magnitudes_in_a_lora_adapter(tiny_base, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    adapter = make_mlx_adapter(tmp_path / "adapter")
    weights = load_file(adapter / "adapters.safetensors")
    weights["model.layers.0.self_attn.q_proj.m"] = torch.ones(64)
    save_file(weights, adapter / "adapters.safetensors")
    refuses(
        tiny_base, adapter, tmp_path / "out", "says it is plain LoRA but .* DoRA magnitude vector"
    )


def test_mlx_dora_magnitude_of_wrong_shape(tiny_base, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    adapter = make_mlx_adapter(tmp_path / "adapter", dora=True)
    weights = load_file(adapter / "adapters.safetensors")
    weights["model.layers.0.self_attn.q_proj.m"] = torch.ones(32)
    save_file(weights, adapter / "adapters.safetensors")
    refuses(tiny_base, adapter, tmp_path / "out", r"magnitude vector of shape \(32,\), not \(64,\)")


def test_mlx_key_not_in_its_config(tiny_base, tmp_path):
    adapter = make_mlx_adapter(tmp_path / "adapter")
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["lora_parameters"]["keys"] = ["self_attn.q_proj"]
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    refuses(tiny_base, adapter, tmp_path / "out", "lora_parameters.keys does not list")


def test_mlx_embedding_lora_is_refused(tiny_base, tmp_path):
    adapter = make_mlx_adapter(
        tmp_path / "adapter", shapes=TINY_SHAPES | {"embed_tokens": (512, 64)}
    )
    shutil.rmtree(adapter)
    import numpy as np
    from safetensors.numpy import save_file

    adapter.mkdir()
    save_file(
        {
            "model.embed_tokens.lora_a": np.ones((512, 4), np.float32),
            "model.embed_tokens.lora_b": np.ones((4, 64), np.float32),
        },
        adapter / "adapters.safetensors",
    )
    (adapter / "adapter_config.json").write_text(
        json.dumps(
            {
                "fine_tune_type": "lora",
                "num_layers": -1,
                "lora_parameters": {"rank": 4, "scale": 1.0},
            }
        )
    )
    refuses(tiny_base, adapter, tmp_path / "out", "adapts the embeddings")


def test_mlx_half_a_pair(tiny_base, tmp_path):
    from safetensors.torch import load_file, save_file

    adapter = make_mlx_adapter(tmp_path / "adapter")
    weights = load_file(adapter / "adapters.safetensors")
    del weights["model.layers.1.mlp.up_proj.lora_b"]
    save_file(weights, adapter / "adapters.safetensors")
    refuses(tiny_base, adapter, tmp_path / "out", "has no LoRA B tensor")


def test_unwritable_output(tiny_base, peft_adapter, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(GemmaikuError, match="cannot create folder"):
        fuse_adapter(tiny_base, peft_adapter, blocker / "out")
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(tiny_base, peft_adapter, tmp_path):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        with pytest.raises(GemmaikuError, match="cannot write to"):
            fuse_adapter(tiny_base, peft_adapter, parent / "out")
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o755)


def test_existing_output_needs_force(tiny_base, peft_adapter, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").write_text("mine")
    with pytest.raises(GemmaikuError, match="already exists"):
        fuse_adapter(tiny_base, peft_adapter, out)
    assert (out / "keep").read_text() == "mine"
    fuse_adapter(tiny_base, peft_adapter, out, force=True)
    assert not (out / "keep").exists() and (out / "model.safetensors").exists()


def test_output_over_an_input_is_refused(tiny_base, peft_adapter):
    with pytest.raises(GemmaikuError, match="would overwrite the input"):
        fuse_adapter(tiny_base, peft_adapter, tiny_base, force=True)


def test_cli_error_is_one_line_and_exit_2(tiny_base, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GEMMAIKU_DEBUG", raising=False)
    adapter = make_mlx_adapter(tmp_path / "adapter", fine_tune_type="full")
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "fuse",
                "--base",
                str(tiny_base),
                "--adapter",
                str(adapter),
                "--out",
                str(tmp_path / "out"),
            ]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("gemmaiku: error: cannot fuse") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
