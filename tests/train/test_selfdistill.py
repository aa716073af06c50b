"""Self-distillation's bookkeeping: the filter keeps only strict, clean replies (by the project's
metric), pairs them with plain replies that fail, and the mix writes a training folder."""

from __future__ import annotations

import json

from gemmaiku.prosody.quality import assess
from gemmaiku.train.selfdistill import done_ids, filter_rows, mix, prompts_of

CLEAN = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again"
DANGLING = "An old silent pond\nA green frog jumps into the\npond, splash! Silence now"  # 5-7-5, line 2 dangles
MISCOUNTED = "An old pond\nA frog jumps into the pond\nSplash! Silence again"


def raw(prompt_id: str, search: str, plain: str) -> dict:
    return {"id": prompt_id, "category": "haiku_request",
            "messages": [{"role": "user", "content": "write about a pond"}], "search": search,
            "search_extra": {"search": {"path": "search"}}, "plain": plain, "seed": 7,
            "model": {"gguf": "m.gguf", "sha256": "x"}, "decoder": {"method": "search", "candidates": 4}}


def test_only_strict_clean_replies_are_kept_and_failed_plain_replies_become_pairs():
    assert assess(CLEAN).clean and assess(DANGLING).strict and not assess(DANGLING).clean
    kept, pairs, counts = filter_rows([raw("a", CLEAN, MISCOUNTED), raw("b", DANGLING, MISCOUNTED),
                                       raw("c", MISCOUNTED, CLEAN), raw("d", CLEAN, CLEAN)], round_number=1)
    assert [row["prompt_id"] for row in kept] == ["a", "d"]
    assert all(assess(row["messages"][-1]["content"]).clean for row in kept)
    assert kept[0]["id"] == "r1-a" and kept[0]["source"] == "model"
    assert kept[0]["messages"][-1] == {"role": "assistant", "content": CLEAN}
    assert [p["id"] for p in pairs] == ["a"]  # d's plain reply is clean too: no preference
    assert pairs[0]["chosen"] == CLEAN and pairs[0]["rejected"] == MISCOUNTED and not pairs[0]["rejected_strict"]
    assert counts == {"rows": 4, "search_strict": 3, "search_clean": 2, "plain_strict": 2, "plain_clean": 2,
                      "pairs": 1}


def test_prompts_drop_the_final_reply_and_get_stable_ids():
    corpus = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": CLEAN}]},
              {"id": "p7", "category": "greeting", "messages": [{"role": "user", "content": "hello"}]}]
    prompts = list(prompts_of(corpus))
    assert prompts[0]["messages"] == [{"role": "user", "content": "hi"}] and len(prompts[0]["id"]) == 16
    assert prompts[1]["id"] == "p7" and list(prompts_of(corpus))[0]["id"] == prompts[0]["id"]


def test_an_interrupted_decode_resumes_after_its_last_whole_row(tmp_path):
    partial = tmp_path / "raw.jsonl.partial"
    partial.write_text(json.dumps(raw("a", CLEAN, CLEAN)) + "\n" + '{"id": "b", "sea')  # cut mid-row
    assert done_ids(partial) == {"a"}


def test_mix_writes_corpus_and_rounds_with_their_hashes(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    conversation = {"category": "haiku_request", "messages": [{"role": "user", "content": "pond"},
                                                               {"role": "assistant", "content": CLEAN}]}
    (data / "train.jsonl").write_text(json.dumps(conversation) + "\n")
    (data / "valid.jsonl").write_text(json.dumps(conversation) + "\n")
    kept, _, _ = filter_rows([raw("a", CLEAN, MISCOUNTED)], round_number=1)
    round_file = tmp_path / "round1.jsonl"
    round_file.write_text(json.dumps(kept[0]) + "\n")
    manifest = mix(data, [round_file], tmp_path / "mixed")
    rows = [json.loads(line) for line in (tmp_path / "mixed" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and rows[1]["source"] == "model" and manifest["train_rows"] == 2
    assert set(manifest["sources"]) == {str(data / "train.jsonl"), str(round_file), str(data / "valid.jsonl")}
    assert (tmp_path / "mixed" / "valid.jsonl").read_bytes() == (data / "valid.jsonl").read_bytes()
