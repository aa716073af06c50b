"""The shipped corpus (data/) passes `gemmaiku data check` and matches a fresh build of its sources.

Skipped only while data/train.jsonl does not exist yet; once the corpus ships, CI runs this.
"""

from __future__ import annotations

import json

import pytest

from gemmaiku.data.build import build_corpus
from gemmaiku.data.check import check_corpus
from tests import REPO_ROOT

DATA = REPO_ROOT / "data"
MINIMUM = 2000

pytestmark = pytest.mark.skipif(
    not (DATA / "train.jsonl").is_file(), reason="corpus not built yet (gemmaiku data build)"
)


def test_shipped_corpus_passes_data_check():
    report = check_corpus(DATA)
    assert report.ok, "\n".join(str(p) for p in report.problems[:20])
    assert report.stats["conversations"] >= MINIMUM
    assert report.stats["adversarial_share"] >= 0.40
    assert all(report.files[name] > 0 for name in ("train", "valid", "test"))


def test_shipped_splits_are_a_fresh_build_of_the_sources(tmp_path):
    result = build_corpus(DATA / "sources", tmp_path)
    assert result.problems == []
    shipped = json.loads((DATA / "MANIFEST.json").read_text())
    assert result.manifest["sha256"] == shipped["sha256"], (
        "data/ is stale: run `gemmaiku data build`"
    )
