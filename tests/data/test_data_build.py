"""`gemmaiku data build`: fixed hash splits, canonical files, a reproducible content hash."""

from __future__ import annotations

import hashlib
import json
import subprocess

from gemmaiku.data.build import build_corpus, content_hash
from gemmaiku.data.check import check_corpus
from gemmaiku.data.corpus import normalize_text, split_of

HAIKU = [
    "An old silent pond\nA frog jumps into the pond\nSplash! Silence again",
    "tin roof in the dark\neach drop finds its own small note\nthe gutter hums low",
    "maple by the gate\nit lets go of one red leaf\nand then all the rest",
    "gray street after noon\numbrellas bloom at crossings\nthen fold one by one",
    "slice it from the end\ncolon, colon, minus one\nthe word walks backward",
    "a wave from the porch\nthe kettle starts its whistle\ncome in from the cold",
]


def _row(i: int, category: str = "haiku_request") -> dict:
    return {
        "category": category,
        "messages": [
            {"role": "user", "content": f"Prompt number {i}"},
            {"role": "assistant", "content": HAIKU[i]},
        ],
    }


def _sources(tmp_path, rows_a, rows_b=()):
    sources = tmp_path / "sources"
    sources.mkdir(parents=True)
    (sources / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows_a))
    (sources / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows_b))
    return sources


def test_build_writes_splits_by_prompt_hash_and_a_manifest(tmp_path):
    rows = [_row(i) for i in range(6)]
    out = tmp_path / "data"
    result = build_corpus(_sources(tmp_path, rows[:4], rows[4:]), out)
    assert result.problems == []
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert manifest == result.manifest
    assert (
        sum(s["conversations"] for s in manifest["splits"].values())
        == 6
        == manifest["conversations"]
    )
    for name in ("train", "valid", "test"):
        for text in (out / f"{name}.jsonl").read_text().splitlines():
            record = json.loads(text)
            assert list(record) == ["messages", "category"]
            assert split_of(normalize_text(record["messages"][0]["content"])) == name
    assert manifest["sha256"] == content_hash(out)
    listing = subprocess.run(
        ["sha256sum", "train.jsonl", "valid.jsonl", "test.jsonl"],
        cwd=out,
        capture_output=True,
        check=True,
    ).stdout
    assert manifest["sha256"] == hashlib.sha256(listing).hexdigest()  # the documented shell rule
    assert check_corpus(out).ok


def test_build_output_depends_only_on_the_set_of_conversations(tmp_path):
    rows = [_row(i) for i in range(6)]
    first = build_corpus(_sources(tmp_path / "x", rows), tmp_path / "x" / "data").manifest["sha256"]
    second = build_corpus(
        _sources(tmp_path / "y", rows[::-1][:3], rows[::-1][3:]), tmp_path / "y" / "data"
    ).manifest["sha256"]
    assert first == second


def test_invalid_sources_write_nothing_unless_skipped(tmp_path):
    bad = {
        "category": "essay",
        "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": "Sure! " + HAIKU[0]},
        ],
    }
    rows = [
        _row(0),
        _row(1),
        bad,
        _row(2),
        {
            "messages": [
                {"role": "user", "content": "no category"},
                {"role": "assistant", "content": HAIKU[3]},
            ]
        },
    ]
    sources, out = _sources(tmp_path, rows), tmp_path / "data"
    refused = build_corpus(sources, out)
    assert refused.problems and refused.manifest == {}
    assert not out.exists() or not any(out.iterdir())
    kept = build_corpus(sources, out, skip_invalid=True)
    assert kept.manifest["conversations"] == 3 and kept.dropped == 2
    assert check_corpus(out).ok


def test_a_stale_manifest_fails_the_check(tmp_path):
    out = tmp_path / "data"
    build_corpus(_sources(tmp_path, [_row(i) for i in range(6)]), out)
    with open(out / "train.jsonl", "a") as handle:
        handle.write("\n")  # changes the bytes, not the content
    report = check_corpus(out)
    assert [p.kind for p in report.problems] == ["manifest"]
