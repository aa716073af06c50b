"""The adherence check's plumbing on the tiny model: prompts, greedy replies, strict verdicts."""

from __future__ import annotations

from train_helpers import CONVERSATIONS

from gemmaiku.train.adherence import adherence, prompt_messages


def test_prompt_stops_before_the_last_reply():
    messages = CONVERSATIONS[2]["messages"]
    assert prompt_messages(messages) == messages[:3]
    assert prompt_messages(CONVERSATIONS[1]["messages"])[-1] == {
        "role": "user",
        "content": "capital of France?",
    }


def test_adherence_runs_and_counts(chat_model_dir, tiny_corpus):
    report = adherence(chat_model_dir, None, tiny_corpus / "train.jsonl", n=3, max_new_tokens=4)
    assert report["n"] == 3 and len(report["samples"]) == 3
    assert report["passed"] == sum(s["ok"] for s in report["samples"]) == 0  # a random model
    assert set(report["per_category"]) == {"haiku_request", "question", "small_talk"}
