"""The lexicon's disk cache: what it loads equals what CMUdict says, and a bad cache is rebuilt."""

from __future__ import annotations

import pytest

from gemmaiku.prosody import lexicon


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A cold lexicon whose cache lives in tmp_path (the built tables are reused, not rebuilt)."""
    monkeypatch.setenv("GEMMAIKU_HOME", str(tmp_path))
    lexicon._table.cache_clear()
    yield tmp_path
    lexicon._table.cache_clear()


def test_the_cache_holds_what_cmudict_says(fresh):
    built = lexicon._build()
    assert lexicon.cmu_counts("fire") == (1, 2) and lexicon.cmu_counts("flower") == (1, 2)
    files = sorted(p.name.split("-")[1] for p in (fresh / "prosody").glob("*.marshal"))
    assert files == ["primary", "raw", "spoken"]
    lexicon._table.cache_clear()  # now from disk
    index = lexicon._table("spoken")
    assert index.words == built["spoken"].words and index.masks == built["spoken"].masks
    sample = index.words[::997]
    assert all(index.get(w) == built["spoken"].get(w) for w in sample)
    assert lexicon.cmu_table() == built["raw"] and lexicon.cmu_primary_table() == built["primary"]
    assert lexicon.cmu_counts("zzzzqx") is None and lexicon.cmu_counts("") is None


def test_counts_decode_in_order_including_zero():
    index = lexicon.CountIndex.from_table({"a": (1,), "b": (0, 3), "c": (2, 12)})
    assert [index.get(w) for w in "abcd"] == [(1,), (0, 3), (2, 12), None]


def test_a_damaged_cache_is_rebuilt(fresh):
    lexicon.cmu_counts("fire")
    for path in (fresh / "prosody").glob("*.marshal"):
        path.write_bytes(b"not marshal")
    lexicon._table.cache_clear()
    assert lexicon.cmu_counts("fire") == (1, 2) and lexicon.cmu_primary("fire") in (1, 2)
