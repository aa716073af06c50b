"""The shipped router: trained on data/router/prompts.jsonl, held-out accuracy and policy cases."""

import json

import pytest
from click.testing import CliRunner

from gemmaiku.cli import cli
from gemmaiku.router.model import SHIPPED_ROUTER, decide, load_router
from gemmaiku.router.train import ROUTER_DATA, data_hash, load_examples, split, train_router


def test_shipped_router_was_trained_on_the_shipped_data():
    meta = json.loads((SHIPPED_ROUTER / "router.json").read_text())
    assert meta["data_sha256"] == data_hash(ROUTER_DATA), "retrain: gemmaiku route --train --out DIR, then copy DIR over the shipped router"


def test_labelled_set_is_large_and_balanced_enough():
    examples = load_examples()
    labels = [e.label for e in examples]
    assert len(examples) >= 600
    assert min(labels.count("haiku"), labels.count("prose")) >= 250
    train, test = split(examples)
    assert not {e.text for e in train} & {e.text for e in test}


def test_held_out_accuracy_meets_the_target():
    _, report = train_router(final=False)
    assert report.accuracy >= 0.95, report.errors
    assert min(report.recall.values()) >= 0.9


@pytest.mark.parametrize("text,route", [
    ("write a haiku about autumn rain", "haiku"),
    ("good morning!", "haiku"),
    ("I feel lonely tonight", "haiku"),
    ("describe the sea at dawn", "haiku"),
    ("write a python function that merges two sorted lists", "prose"),
    ("what is 23 times 19", "prose"),
    ("translate 'good night' into Spanish", "prose"),
    ("give me a JSON object with three fields", "prose"),
    ("summarize this article: the council met on Tuesday and voted to expand bike lanes", "prose"),
])
def test_policy_examples_route_as_documented(text, route):
    decision, _ = decide(text, load_router())
    assert decision.label == route


def test_route_cli_prints_json():
    result = CliRunner().invoke(cli, ["route", "fix this traceback: KeyError 'id'", "--json"])
    assert result.exit_code == 0
    body = json.loads(result.output)
    assert body["route"] == "prose" and 0.5 <= body["confidence"] <= 1.0 and body["by"] == "model"
