"""One conversation policy: the prompt the server gives a model is the prompt `gemmaiku modelfile
render` prints, for every kind of message list; /api/show's Modelfile parses back."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from gemmaiku.cli import cli
from gemmaiku.modelfile import GEMMAIKU_TEMPLATE, load_modelfile, parse_modelfile
from gemmaiku.runtime.prompt import resolve_format
from gemmaiku.serve import Registry, create_app
from gemmaiku.serve.registry import ServedModel
from tests.serve.conftest import FakeEngine, write_tiny_gguf

GEMMA = {"general.architecture": "gemma3"}

MODELFILES = {
    "system": 'SYSTEM "MF SYSTEM"\n',
    "no-system": "",
    "history": 'SYSTEM "MF SYSTEM"\nMESSAGE user "earlier"\nMESSAGE assistant """an old\nreply"""\n',
    "history-system": 'MESSAGE system "from history"\nMESSAGE user "earlier"\n',
}

REQUESTS = {
    "plain": [{"role": "user", "content": "hi"}],
    # the case the two builders once disagreed on: a client system message after the user turn
    "late-system": [{"role": "user", "content": " hi "}, {"role": "system", "content": "client sys"}],
    "own-system": [{"role": "system", "content": "Answer in prose."}, {"role": "user", "content": "hi"}],
    "empty-system": [{"role": "system", "content": ""}, {"role": "user", "content": "hi"}],
    "whitespace": [{"role": "user", "content": "  rain \n\n"}],
    "multi-turn": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                   {"role": "user", "content": "c"}],
    "same-role": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    "assistant-first": [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}],
    "tool-turn": [{"role": "user", "content": "a"}, {"role": "tool", "content": "42"},
                  {"role": "user", "content": "b"}],
}


def _setup(tmp_path, header: str):
    write_tiny_gguf(tmp_path / "m.gguf")
    path = tmp_path / "Modelfile"
    path.write_text(f'FROM ./m.gguf\n{header}TEMPLATE """{GEMMAIKU_TEMPLATE}"""\n')
    modelfile = load_modelfile(path)
    engine = FakeEngine()
    registry = Registry([tmp_path])
    registry.add(ServedModel(name="haiku", path=tmp_path / "m.gguf", engine=engine, system=modelfile.system,
                             template=modelfile.template, messages=modelfile.messages,
                             parameters=dict(modelfile.parameters)))
    return path, modelfile, engine, TestClient(create_app(registry))


def _rendered_by_cli(path, messages, tmp_path) -> str:
    request = tmp_path / "request.json"
    request.write_text(json.dumps(messages))
    result = CliRunner().invoke(cli, ["modelfile", "render", str(path), "-m", str(request), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["prompt"]


@pytest.mark.parametrize("header", list(MODELFILES))
@pytest.mark.parametrize("request_name", list(REQUESTS))
def test_server_prompt_equals_modelfile_render(tmp_path, header, request_name):
    messages = REQUESTS[request_name]
    path, modelfile, engine, client = _setup(tmp_path, MODELFILES[header])
    answer = client.post("/api/chat", json={"model": "haiku", "messages": messages, "stream": False})
    assert answer.status_code == 200, answer.text
    # what the engine renders from the messages the server hands it (runtime.Engine.render)
    served = resolve_format(GEMMA, template=modelfile.template).render(engine.seen[-1]["messages"])
    assert served == _rendered_by_cli(path, messages, tmp_path)
    # and the OpenAI side builds the same conversation
    client.post("/v1/chat/completions", json={"model": "haiku", "messages": messages})
    assert resolve_format(GEMMA, template=modelfile.template).render(engine.seen[-1]["messages"]) == served


def test_late_client_system_replaces_the_modelfile_system(tmp_path):
    path, *_ = _setup(tmp_path, MODELFILES["system"])
    prompt = _rendered_by_cli(path, REQUESTS["late-system"], tmp_path)
    assert prompt == "<start_of_turn>user\nclient sys\n\nhi<end_of_turn>\n<start_of_turn>model\n"


def test_images_are_refused_by_the_server_and_by_render(tmp_path):
    path, _, engine, client = _setup(tmp_path, MODELFILES["system"])
    ollama = [{"role": "user", "content": "what is this?", "images": ["aGVsbG8="]}]
    answer = client.post("/api/chat", json={"model": "haiku", "messages": ollama, "stream": False})
    assert answer.status_code == 400 and "reads text only" in answer.json()["error"]
    openai = [{"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                           {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}}]}]
    answer = client.post("/v1/chat/completions", json={"model": "haiku", "messages": openai})
    assert answer.status_code == 400 and "reads text only" in answer.json()["error"]["message"]
    assert not engine.seen
    request = tmp_path / "request.json"
    request.write_text(json.dumps(ollama))
    result = CliRunner().invoke(cli, ["modelfile", "render", str(path), "-m", str(request)])
    assert result.exit_code != 0 and "reads text only" in str(result.exception)


def test_api_show_modelfile_parses_back(tmp_path):
    header = ('SYSTEM """Say "hi".\nTwice."""\nMESSAGE user "line one\nline two"\n'
              'MESSAGE assistant "a reply"\nPARAMETER stop "<end_of_turn>"\nPARAMETER temperature 0.6\n')
    _, modelfile, _, client = _setup(tmp_path, header)
    shown = client.post("/api/show", json={"model": "haiku"}).json()["modelfile"]
    parsed = parse_modelfile(shown)
    assert parsed.messages == [{"role": "user", "content": "line one\nline two"},
                               {"role": "assistant", "content": "a reply"}]
    assert parsed.system == 'Say "hi".\nTwice.' and parsed.template == modelfile.template
    assert parsed.from_ == str(tmp_path / "m.gguf")
