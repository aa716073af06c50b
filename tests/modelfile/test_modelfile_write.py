"""Gemmaiku's Modelfile: its TEMPLATE renders exactly what gemmaiku.chat.render_chat renders,
it passes our own lint, and it is written atomically with FROM relative to its folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gemmaiku.chat import DEFAULT_SYSTEM_PROMPT, render_chat
from gemmaiku.errors import GemmaikuError
from gemmaiku.modelfile import (
    GEMMAIKU_TEMPLATE,
    conversation,
    gemmaiku_modelfile,
    lint_modelfile,
    load_modelfile,
    parse_modelfile,
    render_prompt,
    write_modelfile,
)


def _chat(system, turns):
    messages = [] if system is None else [{"role": "system", "content": system}]
    for index, content in enumerate(turns):
        messages.append({"role": "user" if index % 2 == 0 else "assistant", "content": content})
    return messages


FIXED = [
    _chat(None, []),
    _chat("S", []),
    _chat(None, ["rain"]),
    _chat("S", ["rain"]),
    _chat("", ["rain"]),
    _chat("S", ["rain", "a haiku"]),
    _chat("S", ["rain", "a haiku", "snow"]),
    _chat(None, ["a", "b", "c", "d", "e"]),
    _chat("multi\nline\n\nsystem", ["{{ .System }}", "<end_of_turn>", "$hasSystem"]),
    _chat(
        DEFAULT_SYSTEM_PROMPT,
        ["Tell me about the sea.", "Waves fold into foam\nsalt wind...", "again"],
    ),
]


@pytest.mark.parametrize("messages", FIXED)
def test_template_renders_like_render_chat(messages):
    """The TEMPLATE renders the policy's conversation exactly as training's render_chat does."""
    assert render_prompt(GEMMAIKU_TEMPLATE, messages) == render_chat(
        conversation(messages), add_generation_prompt=True, bos=False
    )


# Go templates have no trim, so contents are generated already stripped (render_chat strips).
_content = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30).map(str.strip)


@settings(max_examples=400, deadline=None)
@given(system=st.none() | _content, turns=st.lists(_content, max_size=7))
def test_template_renders_like_render_chat_for_any_conversation(system, turns):
    messages = _chat(system, turns)
    assert render_prompt(GEMMAIKU_TEMPLATE, messages) == render_chat(
        conversation(messages), add_generation_prompt=True, bos=False
    )


@settings(max_examples=100, deadline=None)
@given(turns=st.lists(_content, min_size=1, max_size=5).filter(lambda t: len(t) % 2 == 1))
def test_modelfile_system_lands_in_the_first_user_turn(turns):
    mf = gemmaiku_modelfile("m.gguf")
    request = _chat(None, turns)
    expected = render_chat(
        _chat(DEFAULT_SYSTEM_PROMPT, turns), add_generation_prompt=True, bos=False
    )
    assert render_prompt(mf, request) == expected
    # A request's own system prompt replaces it.
    own = _chat("Answer in prose.", turns)
    assert render_prompt(mf, own) == render_chat(own, add_generation_prompt=True, bos=False)


def test_contents_are_stripped_as_in_training():
    messages = _chat(None, ["  rain  "])
    assert (
        render_prompt(GEMMAIKU_TEMPLATE, messages)
        == "<start_of_turn>user\nrain<end_of_turn>\n<start_of_turn>model\n"
    )


def test_gemmaiku_modelfile_contents():
    mf = gemmaiku_modelfile("out/m.gguf")
    assert mf.from_ == "out/m.gguf"
    assert mf.system == DEFAULT_SYSTEM_PROMPT
    assert mf.template == GEMMAIKU_TEMPLATE
    assert mf.parameters == {"temperature": 0.6, "repeat_penalty": 1.1, "stop": ["<end_of_turn>"]}
    assert gemmaiku_modelfile("m.gguf", system="Be terse.").system == "Be terse."


def test_written_modelfile_round_trips_and_passes_lint(tmp_path):
    gguf = tmp_path / "models" / "gemmaiku.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    target = tmp_path / "out" / "Modelfile"
    written = write_modelfile(gemmaiku_modelfile(gguf), target)
    assert written == target
    text = target.read_text()
    assert text.startswith("FROM ../models/gemmaiku.gguf\n")
    loaded = load_modelfile(target)
    assert loaded.from_path() == gguf.resolve()
    assert loaded == parse_modelfile(text)
    assert loaded.template == GEMMAIKU_TEMPLATE and loaded.system == DEFAULT_SYSTEM_PROMPT
    assert lint_modelfile(loaded) == []
    assert list(target.parent.iterdir()) == [target]  # no temporary files left behind


def test_write_next_to_the_gguf_uses_dot_slash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("m.gguf").write_bytes(b"GGUF")
    write_modelfile(gemmaiku_modelfile("m.gguf"), "Modelfile")
    assert Path("Modelfile").read_text().startswith("FROM ./m.gguf\n")


def test_registry_from_is_kept_as_is(tmp_path):
    mf = parse_modelfile("FROM gemma3:270m\n")
    write_modelfile(mf, tmp_path / "Modelfile")
    assert (tmp_path / "Modelfile").read_text() == "FROM gemma3:270m\n"


def test_write_to_a_folder_is_refused(tmp_path):
    with pytest.raises(GemmaikuError, match="is a folder"):
        write_modelfile(gemmaiku_modelfile("m.gguf"), tmp_path)
