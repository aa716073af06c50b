"""Fusing mlx_lm adapters: our weights equal the ones `mlx_lm fuse` writes for the same adapter."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from gemmaiku.fuse import fuse_adapter

from .helpers import TINY_SHAPES, load_weights, make_mlx_adapter

needs_mlx = pytest.mark.skipif(
    importlib.util.find_spec("mlx_lm") is None,
    reason='mlx_lm is not installed: pip install -e ".[mlx]" (mlx[cpu] and mlx-lm, CPU wheels on Linux)',
)

# mlx_lm computes the same float32 products as we do; its BLAS sums in another order. Measured
# max |difference| 4e-7 on the tiny model (weights up to ~3), 1e-6 on the real 270M (deltas up to 5).
WEIGHT_ATOL = 1e-5


def mlx_fuse(base, adapter, out):
    """Run mlx_lm's own fuse command (`mlx_lm fuse`) in this process; return the folder it writes."""
    from unittest import mock

    from mlx_lm import fuse

    argv = [
        "mlx_lm.fuse",
        "--model",
        str(base),
        "--adapter-path",
        str(adapter),
        "--save-path",
        str(out),
    ]
    with mock.patch.object(sys, "argv", argv):
        fuse.main()
    return out


def assert_same_weights(ours, theirs, atol=WEIGHT_ATOL):
    import torch

    assert set(ours) == set(theirs)
    for key in ours:
        assert ours[key].dtype == theirs[key].dtype, key
        torch.testing.assert_close(ours[key], theirs[key], rtol=0, atol=atol, msg=key)


@needs_mlx
@pytest.mark.parametrize(
    "settings",
    [
        {"num_layers": -1},
        {
            "num_layers": 1,
            "layers": (1,),
            "rank": 8,
            "scale": 20.0,
        },  # mlx_lm's defaults: rank 8, scale 20
        {"num_layers": 2, "keys": ("self_attn.q_proj", "mlp.down_proj"), "scale": 0.5},
        {"num_layers": 1, "layers": (1,), "dora": True},
    ],
    ids=["all-blocks", "last-block", "two-keys", "dora"],
)
def test_matches_mlx_lm_fuse(settings, tiny_base, tmp_path):
    adapter = make_mlx_adapter(tmp_path / "adapter", **settings)
    ours = load_weights(fuse_adapter(tiny_base, adapter, tmp_path / "ours"))
    theirs = load_weights(mlx_fuse(tiny_base, adapter, tmp_path / "theirs"))
    base = load_weights(tiny_base)
    assert_same_weights(ours, theirs)
    changed = {key for key in base if not base[key].equal(ours[key])}
    layers = settings.get("layers", (0, 1))
    keys = settings.get("keys", tuple(TINY_SHAPES))
    assert changed == {f"model.layers.{layer}.{key}.weight" for layer in layers for key in keys}


def test_formula(tiny_base, tmp_path):
    """W += scale * lora_b.T @ lora_a.T, with lora_a (in, r) and lora_b (r, out)."""
    from safetensors.torch import load_file

    adapter = make_mlx_adapter(
        tmp_path / "adapter", layers=(1,), keys=("mlp.down_proj",), num_layers=1, scale=3.0
    )
    lora = load_file(adapter / "adapters.safetensors")
    a, b = lora["model.layers.1.mlp.down_proj.lora_a"], lora["model.layers.1.mlp.down_proj.lora_b"]
    assert a.shape == (128, 4) and b.shape == (4, 64)
    key = "model.layers.1.mlp.down_proj.weight"
    fused = load_weights(fuse_adapter(tiny_base, adapter, tmp_path / "out"))[key]
    expected = load_weights(tiny_base)[key] + 3.0 * b.T @ a.T
    assert (fused - expected).abs().max() < 1e-6


def test_language_model_prefix_is_the_same_adapter(tiny_base, tmp_path):
    """Keys under the multimodal wrapper (language_model.model.layers...) fuse like plain ones."""
    plain = make_mlx_adapter(tmp_path / "plain")
    wrapped = make_mlx_adapter(tmp_path / "wrapped", prefix="language_model.model.")
    a = load_weights(fuse_adapter(tiny_base, plain, tmp_path / "a"))
    b = load_weights(fuse_adapter(tiny_base, wrapped, tmp_path / "b"))
    assert all(a[key].equal(b[key]) for key in a)


def test_bfloat16_adapter_tensors(tiny_base, tmp_path):
    """mlx_lm often saves bfloat16 adapters: they are widened to float32 before the product."""
    import torch
    from safetensors.torch import load_file, save_file

    adapter = make_mlx_adapter(tmp_path / "adapter")
    weights = load_file(adapter / "adapters.safetensors")
    save_file(
        {k: v.to(torch.bfloat16) for k, v in weights.items()}, adapter / "adapters.safetensors"
    )
    fused = load_weights(fuse_adapter(tiny_base, adapter, tmp_path / "out"))
    assert fused["model.layers.0.self_attn.q_proj.weight"].dtype == torch.float32
