"""The shipped self-distillation prompts (data/distill/) pass `gemmaiku data check`, have the
corpus' mix, and are a fresh build of data/distill/sources/."""

from __future__ import annotations

import json

from gemmaiku.data.corpus import CATEGORIES
from gemmaiku.data.distill import build_prompts
from gemmaiku.data.distill_check import check_distill
from tests import REPO_ROOT

DATA = REPO_ROOT / "data"
DISTILL = DATA / "distill"


def test_shipped_distill_folder_passes_the_check_and_has_the_corpus_mix():
    report = check_distill(DISTILL)
    assert report.ok, "\n".join(str(p) for p in report.problems[:20])
    stats = report.stats
    rows = stats["rows"]
    assert rows >= 3000
    assert set(stats["per_category"]) == set(CATEGORIES)
    assert 0.5 <= stats["adversarial_share"] <= 0.7
    assert 0.07 <= stats["multi_turn"] / rows <= 0.13
    assert 0.07 <= stats["with_system"] / rows <= 0.15
    assert stats["long_prompts"] >= 24


def test_shipped_prompts_are_a_fresh_build_of_the_sources(tmp_path):
    result = build_prompts(DISTILL / "sources", DATA, tmp_path)
    shipped = json.loads((DISTILL / "MANIFEST.json").read_text())
    assert result.manifest["prompts"]["sha256"] == shipped["prompts"]["sha256"], (
        "data/distill is stale: run `gemmaiku data distill-prompts`"
    )
    assert (
        shipped["build"]["corpus_sha256"]
        == json.loads((DATA / "MANIFEST.json").read_text())["sha256"]
    )
