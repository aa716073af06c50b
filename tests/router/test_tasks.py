"""Background tasks get a grammar of the JSON shape the front-end parses."""

import json

import pytest

from gemmaiku.router.model import RouterModel
from gemmaiku.router.tasks import TASK_OUTPUTS, task_output
from tests.router.test_linear import OPEN_WEBUI_TITLE

TAGS = """### Task:
Generate 1-3 broad tags categorizing the main themes of the chat history.
### Output:
JSON format: { "tags": ["tag1", "tag2", "tag3"] }
### Chat History:
<chat_history>
USER: how do I sort a list
</chat_history>"""
FOLLOW_UPS = TAGS.replace('{ "tags": ["tag1", "tag2", "tag3"] }', '{ "follow_ups": ["q1", "q2", "q3"] }')
SHORT_TITLE = "What is this chat about? Answer with a title of 2 to 5 words.\n### Task: title\n<chat_history>\nUSER: hi\n</chat_history>"


@pytest.mark.parametrize("text,key", [(OPEN_WEBUI_TITLE, "title"), (TAGS, "tags"), (FOLLOW_UPS, "follow_ups"),
                                      (SHORT_TITLE, "title")])
def test_task_prompts_map_to_their_output_shape(text, key):
    assert task_output(text) is TASK_OUTPUTS[key]


def test_ordinary_prompts_get_no_grammar():
    assert task_output('give me {"a": 1} as yaml') is None
    model = RouterModel(targets={"haiku": "h", "prose": "p"})
    assert model.choose([{"role": "user", "content": "write a haiku about json"}]).grammar is None


def test_router_attaches_grammar_and_low_temperature_to_a_title_task():
    decision = RouterModel(targets={"haiku": "h", "prose": "p"}).choose([{"role": "user", "content": OPEN_WEBUI_TITLE}])
    assert decision.target == "p" and decision.grammar == TASK_OUTPUTS["title"].grammar
    assert decision.options["temperature"] <= 0.3


@pytest.mark.slow
def test_grammar_makes_smollm2_write_a_parseable_title():
    from gemmaiku.runtime import Engine, options_from
    from gemmaiku.serve.cli import smollm2_gguf

    engine = Engine(smollm2_gguf(), options=options_from({**TASK_OUTPUTS["title"].options, "seed": 3}), n_threads=1)
    try:
        for history in ("USER: write a haiku about the first snow", "USER: how do I reverse a string in python"):
            prompt = OPEN_WEBUI_TITLE.split("<chat_history>")[0] + f"<chat_history>\n{history}\n</chat_history>"
            text = engine.generate([{"role": "user", "content": prompt}], grammar=TASK_OUTPUTS["title"].grammar).text
            title = json.loads(text)["title"]
            assert 1 <= len(title.split()) <= 5
    finally:
        engine.unload()
