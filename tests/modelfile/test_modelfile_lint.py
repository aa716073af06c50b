"""Lint findings: each check on a Modelfile that has the problem, and none on one that does not."""

from __future__ import annotations

import shutil
from pathlib import Path

from gemmaiku.modelfile import lint_modelfile, load_modelfile, parse_modelfile

FIXTURES = Path(__file__).parent / "fixtures"
GOOD_TEMPLATE = '''TEMPLATE """<start_of_turn>user
{{ if .System }}{{ .System }}

{{ end }}{{ .Prompt }}<end_of_turn>
<start_of_turn>model
{{ .Response }}<end_of_turn>
"""'''


def codes(findings, severity=None):
    return [f.code for f in findings if severity is None or f.severity == severity]


def test_seed_modelfile_warns_that_its_system_prompt_is_dropped(tmp_path):
    shutil.copy(FIXTURES / "seed.Modelfile", tmp_path / "Modelfile")
    (tmp_path / "gemma-haiku.gguf").write_bytes(b"GGUF")
    findings = lint_modelfile(load_modelfile(tmp_path / "Modelfile"))
    assert codes(findings) == ["system-dropped"]
    (finding,) = findings
    assert finding.severity == "warning" and finding.line == 2
    assert "drops the system prompt" in finding.message


def test_seed_modelfile_without_its_gguf_also_warns_about_from():
    findings = lint_modelfile(load_modelfile(FIXTURES / "seed.Modelfile"))
    assert codes(findings) == ["from-missing", "system-dropped"]
    assert findings[0].line == 1 and "gemma-haiku.gguf" in findings[0].message


def test_system_shown_by_the_template_is_fine():
    mf = parse_modelfile(
        f'FROM gemma3:270m\nSYSTEM "Be brief."\n{GOOD_TEMPLATE}\nPARAMETER stop "<end_of_turn>"\n'
    )
    assert codes(lint_modelfile(mf), "warning") == []
    assert codes(lint_modelfile(mf)) == ["from-registry"]


def test_message_system_dropped_is_flagged_on_its_line():
    mf = parse_modelfile(
        'FROM a:b\nMESSAGE user hi\nMESSAGE system be terse\nTEMPLATE "{{ .Prompt }}"\n'
    )
    findings = [f for f in lint_modelfile(mf) if f.code == "system-dropped"]
    assert [(f.line, f.message.split(" is set")[0]) for f in findings] == [(3, "MESSAGE system")]


def test_missing_stop_for_a_gemma_template():
    mf = parse_modelfile(f"FROM a:b\n{GOOD_TEMPLATE}\n")
    assert codes(lint_modelfile(mf), "warning") == ["stop-missing"]
    mf = parse_modelfile(f'FROM a:b\n{GOOD_TEMPLATE}\nPARAMETER stop "<end_of"\n')
    assert codes(lint_modelfile(mf), "warning") == []
    mf = parse_modelfile(f'FROM a:b\n{GOOD_TEMPLATE}\nPARAMETER stop "</s>"\n')
    assert codes(lint_modelfile(mf), "warning") == ["stop-missing"]


def test_parameters_unknown_deprecated_removed_and_out_of_range():
    mf = parse_modelfile(
        "FROM a:b\nPARAMETER temprature 0.5\nPARAMETER mirostat 1\nPARAMETER tfs_z 1\n"
        "PARAMETER top_p 1.5\nPARAMETER temperature -1\nPARAMETER repeat_penalty 0\nPARAMETER top_k 3\nPARAMETER top_k 4\n"
    )
    findings = lint_modelfile(mf)
    by_line = {
        f.line: (f.code, f.message)
        for f in findings
        if f.code.endswith("parameter") or f.code == "parameter-range"
    }
    assert by_line[2][0] == "unknown-parameter" and "did you mean temperature?" in by_line[2][1]
    assert by_line[3][0] == "deprecated-parameter"
    assert by_line[4][0] == "removed-parameter"
    assert by_line[5] == ("parameter-range", "top_p 1.5 is out of range (0 to 1)")
    assert by_line[6] == ("parameter-range", "temperature -1 is out of range (0 to 5)")
    assert by_line[7] == ("parameter-range", "repeat_penalty 0 is out of range (above 0 to 10)")
    assert by_line[9][0] == "repeated-parameter"


def test_from_registry_name_is_a_note_and_a_missing_path_a_warning(tmp_path):
    assert [
        (f.severity, f.code)
        for f in lint_modelfile(parse_modelfile("FROM gemma3:270m\n"))
        if f.code.startswith("from")
    ] == [("note", "from-registry")]
    mf = parse_modelfile("FROM ./nope.gguf\n", base_dir=tmp_path)
    (finding,) = [f for f in lint_modelfile(mf) if f.code.startswith("from")]
    assert finding.severity == "warning" and str(tmp_path / "nope.gguf") in finding.message
    (finding,) = [
        f for f in lint_modelfile(parse_modelfile('FROM ""\n')) if f.code.startswith("from")
    ]
    assert finding.message.startswith("FROM is empty")
    (tmp_path / "real.gguf").write_bytes(b"GGUF")
    mf = parse_modelfile("FROM real.gguf\n", base_dir=tmp_path)
    assert [f for f in lint_modelfile(mf) if f.code.startswith("from")] == []


def test_template_without_generation_prompt():
    mf = parse_modelfile(
        'FROM a:b\nPARAMETER stop "<end_of_turn>"\nTEMPLATE """{{ range .Messages }}<start_of_turn>{{ .Role }}\n'
        '{{ .Content }}<end_of_turn>\n{{ end }}"""\n'
    )
    (finding,) = [f for f in lint_modelfile(mf) if f.severity == "warning"]
    assert finding.code == "no-generation-prompt" and finding.line == 3


def test_template_that_does_not_render_is_reported_not_raised():
    mf = parse_modelfile('FROM a:b\nTEMPLATE "{{ .Prompt | trim }}"\n')
    assert codes(lint_modelfile(mf), "warning") == ["template-error"]


def test_no_template_is_a_note():
    assert "no-template" in codes(lint_modelfile(parse_modelfile("FROM a:b\n")), "note")


def test_repeated_instructions_warn():
    mf = parse_modelfile("FROM a:b\nFROM c:d\nSYSTEM x\nSYSTEM y\nADAPTER ./a\nADAPTER ./b\n")
    assert {"repeated-from", "repeated-system", "repeated-adapter"} <= set(
        codes(lint_modelfile(mf))
    )


def test_wrong_type_in_a_python_built_modelfile_is_a_finding():
    from gemmaiku.modelfile import Modelfile

    mf = Modelfile(from_="a:b", parameters={"temperature": "hot", "top_k": 1.5, "stop": "x"})
    assert codes(lint_modelfile(mf), "warning") == ["parameter-type"] * 3
