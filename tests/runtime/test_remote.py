"""The one remote client: spec grammar, option mapping, grammar pass-through, both wire formats."""

from __future__ import annotations

import pytest

from gemmaiku.errors import GemmaikuError
from gemmaiku.runtime import Generator, options_from
from gemmaiku.runtime.grammar import Grammar, format_grammar
from gemmaiku.runtime.remote import RemoteSpec, parse_remote, remote_generator

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(("spec", "expected"), [
    ("ollama:http://10.0.0.2:11434/llama3.2:1b", ("ollama", "http://10.0.0.2:11434", "llama3.2:1b")),
    ("ollama:http://h:1/hf.co/user/model:Q4_K_M", ("ollama", "http://h:1", "hf.co/user/model:Q4_K_M")),
    ("openai:http://host:8000/v1/Qwen/Qwen2.5-7B", ("openai", "http://host:8000/v1", "Qwen/Qwen2.5-7B")),
    ("openai:https://host:8000/proxy/v1/google/gemma-3-270m", ("openai", "https://host:8000/proxy/v1",
                                                                 "google/gemma-3-270m")),
    ("openai:http://127.0.0.1:8080/api/gemmaiku-router", ("openai", "http://127.0.0.1:8080/api", "gemmaiku-router")),
])
def test_one_spec_grammar(spec, expected):
    assert parse_remote(spec) == RemoteSpec(*expected)


@pytest.mark.parametrize(("spec", "says"), [
    ("http://host/model", "start it with ollama: or openai:"),
    ("ollama:localhost:11434/m", "not an http(s) URL"),
    ("ollama:http://127.0.0.1:11434", "no model name"),
    ("ollama:http://127.0.0.1:11434/", "no model name"),
    ("openai:http://host/m", "needs /v1/MODEL or /api/MODEL"),
    ("openai:http://host/v1/", "needs /v1/MODEL or /api/MODEL"),
])
def test_bad_specs_are_one_line_naming_the_spec(spec, says):
    with pytest.raises(GemmaikuError) as info:
        parse_remote(spec, what="upstream")
    message = str(info.value)
    assert message.startswith(f"bad upstream {spec!r}: ") and says in message and "\n" not in message


def test_only_the_options_set_are_sent_in_each_wire_format():
    ollama = remote_generator("ollama:http://h:1/m", options={"temperature": 0.3})
    assert isinstance(ollama, Generator)
    body = ollama.request(MESSAGES, ollama.options.merged({"seed": 4}), None)
    assert body == {"model": "m", "messages": MESSAGES, "stream": True, "options": {"temperature": 0.3, "seed": 4}}
    openai = remote_generator("openai:http://h/v1/m")
    options = options_from({"temperature": 0.3, "seed": 4, "num_predict": 20, "top_k": 5})
    body = openai.request(MESSAGES, options, None)
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.3, 4, 20)
    assert "top_k" not in body and "params" not in body and body["stream"] is True
    assert "max_tokens" not in openai.request(MESSAGES, options_from({"num_predict": -1}), None)
    webui = remote_generator("openai:http://h:8080/api/m")  # Open WebUI drops top-level sampling fields
    assert webui.request(MESSAGES, options_from({"temperature": 0.3}), None)["params"] == {"temperature": 0.3}


def test_a_grammar_travels_as_the_format_it_came_from():
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    ollama = remote_generator("ollama:http://h:1/m")
    openai = remote_generator("openai:http://h/v1/m")
    options = options_from({})
    assert ollama.request(MESSAGES, options, format_grammar("json"))["format"] == "json"
    assert ollama.request(MESSAGES, options, format_grammar(schema))["format"] == schema
    assert openai.request(MESSAGES, options, format_grammar({"type": "json_object"}))["response_format"] == {
        "type": "json_object"}
    sent = openai.request(MESSAGES, options, Grammar('root ::= "x"', schema))["response_format"]
    assert sent == {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}
    with pytest.raises(GemmaikuError, match="cannot decode under a GBNF grammar"):
        ollama.request(MESSAGES, options, 'root ::= "x"')  # never dropped silently


def test_a_raw_prompt_and_an_unreachable_server_are_clear_errors():
    generator = remote_generator("ollama:http://127.0.0.1:9/m")  # port 9 (discard): nothing listens
    with pytest.raises(GemmaikuError, match="takes chat messages, not a raw prompt"):
        list(generator.stream(prompt="hi"))
    with pytest.raises(GemmaikuError, match="cannot reach http://127.0.0.1:9/api/chat"):
        list(generator.stream(MESSAGES))
