"""Prompts as Ollama builds them: the gemma3 library template, legacy .Prompt/.Response
templates, the system prompt rules, and the merged generation options."""

from __future__ import annotations

from pathlib import Path

import pytest

from gemmaiku.errors import GemmaikuError
from gemmaiku.modelfile import load_modelfile, parse_modelfile, render_prompt
from gemmaiku.modelfile.prompt import collate, conversation, modelfile_conversation

FIXTURES = Path(__file__).parent / "fixtures"

# Ollama's library template for gemma3 (template/gemma3-instruct.gotmpl), used as data.
OLLAMA_GEMMA3_TEMPLATE = """{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<start_of_turn>user
{{- if and (eq $i 1) $.System }}
{{ $.System }}
{{ end }}
{{ .Content }}<end_of_turn>
{{ else if eq .Role "assistant" }}<start_of_turn>model
{{ .Content }}<end_of_turn>
{{ end }}
{{- if $last }}<start_of_turn>model
{{ end }}
{{- end }}"""

CHAT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello, how are you?"},
    {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
    {"role": "user", "content": "I'd like to show off how chat templating works!"},
]


def test_ollama_gemma3_template_with_system_and_turns():
    # The expected text is Ollama's own test data for this template.
    assert render_prompt(OLLAMA_GEMMA3_TEMPLATE, CHAT) == (
        "<start_of_turn>user\n"
        "You are a helpful assistant.\n"
        "\n"
        "Hello, how are you?<end_of_turn>\n"
        "<start_of_turn>model\n"
        "I'm doing great. How can I help you today?<end_of_turn>\n"
        "<start_of_turn>user\n"
        "I'd like to show off how chat templating works!<end_of_turn>\n"
        "<start_of_turn>model\n"
    )
    assert render_prompt(OLLAMA_GEMMA3_TEMPLATE, CHAT[1:2]) == (
        "<start_of_turn>user\nHello, how are you?<end_of_turn>\n<start_of_turn>model\n"
    )


def test_gemma3_template_from_a_modelfile_gets_the_modelfile_system():
    mf = parse_modelfile(
        f'FROM gemma3:270m\nSYSTEM "Be brief."\nTEMPLATE """{OLLAMA_GEMMA3_TEMPLATE}"""\n'
    )
    assert render_prompt(mf, [{"role": "user", "content": "Hi"}]) == (
        "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
    )
    # A request's own system message replaces the Modelfile's SYSTEM.
    assert render_prompt(mf,
        [{"role": "system", "content": "Be long."}, {"role": "user", "content": "Hi"}]
    ) == ("<start_of_turn>user\nBe long.\n\nHi<end_of_turn>\n<start_of_turn>model\n")
    # So does a generate request's system field.
    assert render_prompt(mf, [{"role": "user", "content": "Hi"}], system="Be odd.").startswith(
        "<start_of_turn>user\nBe odd.\n\nHi"
    )


def test_seed_modelfile_drops_its_system_prompt():
    seed = load_modelfile(FIXTURES / "seed.Modelfile")
    assert render_prompt(seed, [{"role": "user", "content": "Write about rain"}]) == (
        "<start_of_turn>user\nWrite about rain<end_of_turn>\n<start_of_turn>model\n"
    )


def test_legacy_template_renders_one_exchange_per_turn_and_stops_at_response():
    seed = load_modelfile(FIXTURES / "seed.Modelfile")
    assert render_prompt(seed, CHAT[1:]) == (
        "<start_of_turn>user\nHello, how are you?<end_of_turn>\n<start_of_turn>model\n"
        "I'm doing great. How can I help you today?<end_of_turn>"
        "<start_of_turn>user\nI'd like to show off how chat templating works!<end_of_turn>\n<start_of_turn>model\n"
    )
    # A conversation that ends with the assistant is continued, not closed.
    assert render_prompt(seed, CHAT[1:3]).endswith(
        "<start_of_turn>model\nI'm doing great. How can I help you today?"
    )


def test_legacy_template_with_system():
    template = "{{ if .System }}[S:{{ .System }}]{{ end }}[U:{{ .Prompt }}][A:{{ .Response }}]"
    assert render_prompt(template, CHAT) == (
        "[S:You are a helpful assistant.][U:Hello, how are you?][A:I'm doing great. How can I help you today?]"
        "[U:I'd like to show off how chat templating works!][A:"
    )


def test_template_without_response_gets_one_appended():
    # Ollama adds {{ .Response }} to templates that mention neither .Messages nor .Response.
    assert render_prompt("<u>{{ .Prompt }}</u>", CHAT[1:]) == (
        "<u>Hello, how are you?</u>I'm doing great. How can I help you today?<u>I'd like to show off how chat templating works!</u>"
    )


def test_no_template_renders_the_bare_prompt():
    assert render_prompt(parse_modelfile("FROM x\n"), [{"role": "user", "content": "hi"}]) == "hi"


def test_modelfile_messages_come_before_the_request():
    mf = parse_modelfile(
        'FROM x\nSYSTEM s\nMESSAGE user u0\nMESSAGE assistant a0\nTEMPLATE "{{ range .Messages }}{{ .Role }}={{ .Content }};{{ end }}"\n'
    )
    assert (
        render_prompt(mf, [{"role": "user", "content": "u1"}]) == "system=s;user=u0;assistant=a0;user=u1;"
    )
    # A request's own system prompt replaces SYSTEM and goes first, before the history.
    assert modelfile_conversation(mf, [{"role": "system", "content": "mine"}]) == [
        {"role": "system", "content": "mine"},
        {"role": "user", "content": "u0"},
        {"role": "assistant", "content": "a0"},
    ]


def test_collate_merges_runs_and_joins_system_text():
    system, merged = collate(
        [
            {"role": "system", "content": "a"},
            {"role": "system", "content": "b"},
            {"role": "user", "content": "u"},
            {"role": "user", "content": "v"},
            {"role": "tool", "content": "t1"},
            {"role": "tool", "content": "t2"},
        ]
    )
    assert system == "a\n\nb"
    assert [m["content"] for m in merged] == ["a\n\nb", "u\n\nv", "t1", "t2"]


def test_bad_messages_and_templates_are_user_errors():
    with pytest.raises(GemmaikuError, match="role must be one of"):
        render_prompt("{{ .Prompt }}", [{"role": "robot", "content": "x"}])
    mf = parse_modelfile('FROM x\n\nTEMPLATE "{{ .Prompt "\n')
    with pytest.raises(
        GemmaikuError, match=r"^TEMPLATE \(line 3\): template line 1: unclosed action"
    ):
        render_prompt(mf, [{"role": "user", "content": "x"}])


def test_options_merge_defaults_modelfile_and_request():
    mf = parse_modelfile(
        "FROM x\nPARAMETER temperature 0.6\nPARAMETER stop a\nPARAMETER stop b\nPARAMETER mirostat 2\nPARAMETER bogus 1\n"
    )
    assert mf.options() == {"temperature": 0.6, "stop": ["a", "b"]}
    merged = mf.options(
        {"temperature": 1, "num_predict": 64.0, "top_k": 7.9, "stop": "x", "nonsense": 3},
        defaults=True,
    )
    assert merged["temperature"] == 1.0 and isinstance(merged["temperature"], float)
    assert merged["num_predict"] == 64 and isinstance(merged["num_predict"], int)
    assert merged["top_k"] == 7
    assert merged["stop"] == ["x"]
    assert merged["repeat_last_n"] == 64 and merged["seed"] == -1
    assert "nonsense" not in merged and "mirostat" not in merged
    with pytest.raises(GemmaikuError, match="option 'temperature' must be a number"):
        mf.options({"temperature": "hot"})
    with pytest.raises(GemmaikuError, match="option 'use_mmap' must be true or false"):
        mf.options({"use_mmap": 1})
    # The Modelfile's own list is not shared with the result.
    mf.options()["stop"].append("z")
    assert mf.parameters["stop"] == ["a", "b"]


# Cases from Ollama's template tests: legacy and .Messages templates render the same text.
_FRIEND = [
    {"role": "user", "content": "Hello friend!"},
    {"role": "assistant", "content": "Hello human!"},
    {"role": "user", "content": "What is your name?"},
]
_MISTRAL = [
    "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}[/INST] ",
    "[INST] {{ if .System }}{{ .System }}\n\n{{ end }}{{ .Prompt }}[/INST] {{ .Response }}",
    '[INST] {{ if .System }}{{ .System }}\n\n{{ end }}\n{{- range .Messages }}\n{{- if eq .Role "user" }}'
    '{{ .Content }}[/INST] {{ else if eq .Role "assistant" }}{{ .Content }}[INST] {{ end }}\n{{- end }}',
]


@pytest.mark.parametrize("template", _MISTRAL)
def test_ollama_mistral_cases(template):
    assert (
        render_prompt(template, _FRIEND)
        == "[INST] Hello friend![/INST] Hello human![INST] What is your name?[/INST] "
    )
    system = [{"role": "system", "content": "You are a helpful assistant!"}]
    assert render_prompt(template, system + _FRIEND) == (
        "[INST] You are a helpful assistant!\n\nHello friend![/INST] Hello human![INST] What is your name?[/INST] "
    )


@pytest.mark.parametrize(
    "template",
    [
        "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}{{ if .Prompt }}<|im_start|>user\n"
        "{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n{{ .Response }}<|im_end|>\n",
        "\n{{- range $index, $_ := .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
    ],
)
def test_ollama_chatml_cases(template):
    system = [{"role": "system", "content": "You are a helpful assistant!"}]
    assert render_prompt(template, system + _FRIEND) == (
        "<|im_start|>system\nYou are a helpful assistant!<|im_end|>\n<|im_start|>user\nHello friend!<|im_end|>\n"
        "<|im_start|>assistant\nHello human!<|im_end|>\n<|im_start|>user\nWhat is your name?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_the_conversation_policy():
    u, a = "user", "assistant"
    assert conversation([{"role": u, "content": " hi "}, {"role": "system", "content": " late "}],
                        system="MF") == [{"role": "system", "content": "late"}, {"role": u, "content": "hi"}]
    assert conversation([{"role": u, "content": "hi"}], system="MF", history=[{"role": "system", "content": "H"}]) == [
        {"role": "system", "content": "MF\n\nH"}, {"role": u, "content": "hi"}]
    assert conversation([{"role": "system", "content": ""}, {"role": u, "content": "x"}], system="MF") == [
        {"role": u, "content": "x"}]  # an empty system message clears the Modelfile's
    assert conversation([{"role": a, "content": "a0"}, {"role": "tool", "content": "t"}, {"role": a, "content": "a1"},
                         {"role": u, "content": "u"}, {"role": u, "content": "v"}]) == [
        {"role": u, "content": ""}, {"role": a, "content": "a0\n\na1"}, {"role": u, "content": "u\n\nv"}]
    with pytest.raises(GemmaikuError, match="message 1 has images: this model reads text only"):
        conversation([{"role": u, "content": "what is it?", "images": ["aGk="]}])
