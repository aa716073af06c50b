"""Structured replies for chat front-ends' background tasks.

A front-end such as Open WebUI asks the chat model for a JSON title, tags and follow-up
suggestions and parses the reply. A 135M prose model rarely writes valid JSON on its own (measured
in the Open WebUI end-to-end test: 2 of 9 titles parsed at temperature 0.1), so the router
decodes these requests under a grammar of the expected shape, at a low temperature. The table is
keyed by the JSON key the task's prompt asks for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gemmaiku.runtime.grammar import Grammar

WORD = r'word ::= [A-Za-z]{1,12}'  # letters only: allowing digits and dashes let titles loop


@dataclass(frozen=True)
class TaskOutput:
    grammar: Grammar  # hand-written GBNF; its format (a JSON schema of the same shape) goes to a remote model
    options: dict[str, Any] = field(default_factory=dict)


def _strings(key: str, least: int, most: int) -> dict[str, Any]:
    """A JSON schema for ``{key: [least..most strings]}``."""
    items = {"type": "array", "items": {"type": "string"}, "minItems": least, "maxItems": most}
    return {"type": "object", "properties": {key: items}, "required": [key]}


TITLE_SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}

TASK_OUTPUTS: dict[str, TaskOutput] = {
    "title": TaskOutput(Grammar('root ::= "{\\"title\\": \\"" word (" " word){0,4} "\\"}"\n' + WORD,
                                TITLE_SCHEMA), {"temperature": 0.2, "num_predict": 48}),
    "tags": TaskOutput(Grammar('root ::= "{\\"tags\\": [" tag (", " tag){0,3} "]}"\ntag ::= "\\"" word (" " word)? "\\""\n'
                               + WORD, _strings("tags", 1, 4)), {"temperature": 0.2, "num_predict": 64}),
    "follow_ups": TaskOutput(Grammar('root ::= "{\\"follow_ups\\": [" item (", " item){2,4} "]}"\n'
                                     'item ::= "\\"" word (" " word){2,11} "?"? "\\""\n' + WORD,
                                     _strings("follow_ups", 3, 5)), {"temperature": 0.3, "num_predict": 160}),
    "queries": TaskOutput(Grammar('root ::= "{\\"queries\\": [" item (", " item){0,2} "]}"\n'
                                  'item ::= "\\"" word (" " word){0,7} "\\""\n' + WORD,
                                  _strings("queries", 1, 3)), {"temperature": 0.2, "num_predict": 64}),
}
ALIASES = {"follow-ups": "follow_ups", "followups": "follow_ups", "query": "queries"}

# The JSON key a task prompt asks for: `JSON format: { "title": ...`, or `### Task: title`.
ASKED_KEY = re.compile(r'\{\s*"(\w[\w-]*)"\s*:|###\s*Task:\s*([\w-]+)\s*$', re.MULTILINE)


def task_output(text: str) -> TaskOutput | None:
    """The structured output a background-task prompt asks for, if we know its shape."""
    for match in ASKED_KEY.finditer(text[:20000]):
        key = (match.group(1) or match.group(2) or "").lower()
        key = ALIASES.get(key, key)
        if key in TASK_OUTPUTS:
            return TASK_OUTPUTS[key]
    return None
