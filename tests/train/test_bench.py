"""The training benchmark's variants run the trainer's step and agree on the loss where exact."""

from __future__ import annotations

import pytest

from gemmaiku.bench.train import VARIANTS, run_variant, summarise

pytestmark = pytest.mark.slow


def test_variants_train_the_same_batches_to_the_same_first_loss(tiny_corpus, chat_model_dir):
    results = {
        name: run_variant(
            name,
            chat_model_dir,
            tiny_corpus,
            steps=1,
            warmup=1,
            batch_size=2,
            threads=1,
            interop_threads=0,
        )  # fmt: skip
        for name in ("plain", "fused", "pack", "ctx64", "full-ft")
    }
    plain = results["plain"]
    assert plain["target_tokens"] > 0 and plain["seconds"] > 0 and plain["peak_rss_mb"] > 0
    for name in ("fused", "pack", "full-ft"):  # exact: the first step sees the same weights
        assert abs(results[name]["losses"][0] - plain["losses"][0]) < 1e-5, name
        assert results[name]["target_tokens"] == plain["target_tokens"]
    assert results["ctx64"]["targets_kept"] < 1.0  # the multi-turn chat loses its first reply
    assert results["full-ft"]["trained_parameters"] > plain["trained_parameters"]
    rows = summarise([results])
    assert [r["variant"] for r in rows] == list(results)
    assert rows[0]["speedup_vs_plain"] == 1.0 and all(r["description"] for r in rows)
    assert set(VARIANTS) >= set(results)
