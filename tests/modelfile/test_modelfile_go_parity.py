"""Optional: render templates with Go's own text/template and compare, where Go is installed.

The harness in gotext/ builds the data as Ollama does (a map; messages as pointers to a
struct; missingkey=zero). `make test` installs Debian's golang-go, so CI runs it; elsewhere it
skips without a Go toolchain.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from test_modelfile_gotemplate import GO_CASES, GO_ERRORS, MESSAGES
from test_modelfile_prompt import OLLAMA_GEMMA3_TEMPLATE

from gemmaiku.modelfile import GEMMAIKU_TEMPLATE
from gemmaiku.modelfile.gotemplate import Struct, TemplateError, parse_template

GO = shutil.which("go") or next((str(p) for p in Path("/usr/lib").glob("go-1.*/bin/go")), None)
pytestmark = pytest.mark.skipif(GO is None, reason="no Go toolchain")


@pytest.fixture(scope="module")
def go_render(tmp_path_factory):
    binary = tmp_path_factory.mktemp("gotext") / "gotext"
    built = subprocess.run(
        [GO, "build", "-o", str(binary), "."],
        cwd=Path(__file__).parent / "gotext",
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0:  # a toolchain problem, not ours
        pytest.skip(f"go build failed: {built.stderr.strip()[:200]}")

    def render(cases):
        lines = "".join(json.dumps(c) + "\n" for c in cases)
        out = subprocess.run(
            [str(binary)], input=lines, capture_output=True, text=True, check=True, timeout=60
        )
        return [json.loads(line) for line in out.stdout.splitlines()]

    return render


def _py(case):
    data = dict(case["data"])
    if case["messages"] is not None:
        data["Messages"] = [
            Struct(
                "*main.message",
                Role=m["role"],
                Content=m["content"],
                Thinking="",
                Images=None,
                ToolCalls=None,
                ToolName="",
                ToolCallID="",
            )
            for m in case["messages"]
        ]
    try:
        return {"output": parse_template(case["template"]).render(data)}
    except TemplateError as exc:
        return {"error": str(exc)}


def test_same_output_as_go(go_render):
    chats = [
        [],
        [{"role": "user", "content": "Hi"}],
        [{"role": r, "content": c} for r, c in MESSAGES],
        [{"role": "system", "content": ""}, {"role": "user", "content": " {{ .System }} "}],
    ]
    cases = [
        {
            "template": t,
            "data": {"System": "Be brief.", "Prompt": "P"},
            "messages": None if m is None else [{"role": r, "content": c} for r, c in m],
        }
        for t, m, _ in GO_CASES
    ]
    cases += [
        {
            "template": t,
            "data": {"System": "Be brief.", "Prompt": "P"},
            "messages": [{"role": r, "content": c} for r, c in MESSAGES],
        }
        for t in GO_ERRORS
    ]
    for template in (OLLAMA_GEMMA3_TEMPLATE, GEMMAIKU_TEMPLATE):
        cases += [
            {
                "template": template,
                "data": {"System": "Be brief.", "Response": ""},
                "messages": chat,
            }
            for chat in chats
        ]
    for case, go in zip(cases, go_render(cases), strict=True):
        mine = _py(case)
        if "error" in go:
            assert "error" in mine, case["template"]
        else:
            assert mine == go, case["template"]
