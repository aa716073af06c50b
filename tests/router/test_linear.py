import json

import numpy as np
import pytest

from gemmaiku.errors import GemmaikuError
from gemmaiku.router.features import FeatureSpec, featurize
from gemmaiku.router.linear import LinearRouter, train_linear
from gemmaiku.router.model import RouterModel, decide
from gemmaiku.router.policy import is_background_task, routing_text

POEMS = ["write a haiku about {}", "a short poem on {}", "describe {} at dawn", "how does {} make you feel",
         "say something lovely about {}"]
TASKS = ["write a python function that sorts {}", "what is 17 times {}", "convert {} to JSON",
         "summarize this article about {}", "translate {} into French"]
TOPICS = ["rain", "the sea", "autumn leaves", "my cat", "cities", "snow", "coffee", "trains", "the moon",
          "gardens", "mountains", "old friends"]


def synthetic():
    texts, labels = [], []
    for topic in TOPICS:
        for template in POEMS:
            texts.append(template.format(topic))
            labels.append("haiku")
        for template in TASKS:
            texts.append(template.format(topic))
            labels.append("prose")
    return texts, labels


@pytest.fixture(scope="module")
def router() -> LinearRouter:
    texts, labels = synthetic()
    return train_linear(texts, labels, spec=FeatureSpec(n_features=1 << 14), epochs=150)


def test_features_are_normalised_and_deterministic():
    spec = FeatureSpec(n_features=1 << 12)
    first, second = featurize("Write a haiku!", spec), featurize("Write a haiku!", spec)
    assert np.array_equal(first[0], second[0]) and np.allclose(first[1], second[1])
    assert np.isclose(np.linalg.norm(first[1]), 1.0)
    assert featurize("", spec)[0].size > 0  # shape features still fire on empty text


def test_training_separates_the_classes_on_unseen_topics(router):
    assert router.decide("write a haiku about volcanoes").label == "haiku"
    assert router.decide("write a python function that sorts volcanoes").label == "prose"
    assert 0.5 <= router.decide("translate volcanoes into French").confidence <= 1.0


def test_save_load_round_trip_is_exact_and_uses_no_pickle(router, tmp_path):
    router.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["router.json", "router.safetensors"]
    assert json.loads((tmp_path / "router.json").read_text())["kind"] == "linear-hashed-ngrams"
    loaded = LinearRouter.load(tmp_path)
    for text in ["a short poem on frost", "what is 17 times 3"]:
        assert loaded.prose_probability(text) == pytest.approx(router.prose_probability(text), abs=1e-7)


def test_loading_from_an_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(GemmaikuError, match="no router in"):
        LinearRouter.load(tmp_path)


OPEN_WEBUI_TITLE = """### Task:
Generate a concise, 3-5 word title with an emoji summarizing the chat history.
### Guidelines:
- The title should clearly represent the main theme or subject of the conversation.
### Output:
JSON format: { "title": "your concise title here" }
### Chat History:
<chat_history>
USER: write a haiku about rain
ASSISTANT: Rain on the tin roof
</chat_history>"""


def test_background_tasks_go_to_prose_by_rule(router):
    assert is_background_task(OPEN_WEBUI_TITLE)
    assert not is_background_task("### Task: write me a poem")
    decision, why = decide(OPEN_WEBUI_TITLE, router)
    assert (decision.label, decision.confidence, why) == ("prose", 1.0, "rule:background-task")


def test_router_model_picks_a_target_from_the_latest_user_message(router):
    model = RouterModel(targets={"haiku": "gemmaiku", "prose": "smollm2"}, router=router)
    messages = [{"role": "user", "content": "what is 17 times 4"}, {"role": "assistant", "content": "68"},
                {"role": "user", "content": "now write a haiku about the moon"}]
    assert routing_text(messages) == "now write a haiku about the moon"
    chosen = model.choose(messages)
    assert (chosen.target, chosen.route) == ("gemmaiku", "haiku")
    assert model.choose(messages[:1]).target == "smollm2"
