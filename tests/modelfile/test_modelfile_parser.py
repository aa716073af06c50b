"""Modelfile grammar as ollama's parser/parser.go reads it, and the round trip through to_text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gemmaiku.errors import GemmaikuError
from gemmaiku.modelfile import Modelfile, load_modelfile, parse_modelfile
from gemmaiku.modelfile.parser import quote

FIXTURES = Path(__file__).parent / "fixtures"


def test_seed_modelfile_parses():
    mf = load_modelfile(FIXTURES / "seed.Modelfile")
    assert mf.from_ == "./gemma-haiku.gguf"
    assert (
        mf.system == "You are a haiku bot. You answer every query with a haiku in 5-7-5 syllables."
    )
    assert (
        mf.template
        == "<start_of_turn>user\n{{ .Prompt }}<end_of_turn>\n<start_of_turn>model\n{{ .Response }}<end_of_turn>"
    )
    assert mf.parameters == {"temperature": 0.6, "stop": ["<end_of_turn>"]}
    assert mf.base_dir == FIXTURES.resolve()
    assert mf.resolve(mf.from_) == FIXTURES.resolve() / "gemma-haiku.gguf"
    assert mf.line("template") == 3 and mf.line("parameter stop") == 8


def test_full_grammar():
    text = '''# a comment
  # an indented comment
from gemma3:270m
Parameter temperature 0.7
PARAMETER stop <end_of_turn>
PARAMETER stop "<start_of_turn>"
PARAMETER num_ctx 2048
PARAMETER use_mmap false
PARAMETER mirostat 1
PARAMETER tfs_z 0.9
system """
Line one.
  "Line two" has quotes.
"""
TEMPLATE "{{ .Prompt }}
{{ .Response }}"
ADAPTER ./lora.gguf
LICENSE MIT
LICENSE """second
licence"""
MESSAGE user Is Toronto in Canada?
MESSAGE assistant   yes
MESSAGE system "be terse"
REQUIRES 0.6.2
'''
    mf = parse_modelfile(text)
    assert mf.from_ == "gemma3:270m"
    assert mf.parameters == {
        "temperature": 0.7,
        "stop": ["<end_of_turn>", "<start_of_turn>"],
        "num_ctx": 2048,
        "use_mmap": False,
        "mirostat": 1,
        "tfs_z": 0.9,
    }
    assert mf.system == '\nLine one.\n  "Line two" has quotes.\n'
    assert mf.template == "{{ .Prompt }}\n{{ .Response }}"
    assert mf.adapters == ["./lora.gguf"]
    assert mf.license == ["MIT", "second\nlicence"]
    assert mf.messages == [
        {"role": "user", "content": "Is Toronto in Canada?"},
        {"role": "assistant", "content": "yes"},
        {"role": "system", "content": "be terse"},
    ]
    assert mf.requires == "0.6.2"


def test_blanks_around_a_bare_value_are_dropped():
    assert parse_modelfile("FROM x\nSYSTEM   padded value \t \n").system == "padded value"


def test_hash_after_a_value_is_part_of_the_value_not_a_comment():
    mf = parse_modelfile("FROM x\nSYSTEM hello # not a comment\n")
    assert mf.system == "hello # not a comment"
    with pytest.raises(
        GemmaikuError, match=r"Modelfile:2: PARAMETER temperature must be a number, not '0.6 # hot'"
    ):
        parse_modelfile("FROM x\nPARAMETER temperature 0.6 # hot\n")


def test_last_of_a_repeated_single_instruction_wins():
    mf = parse_modelfile("FROM a\nSYSTEM one\nSYSTEM two\nFROM b\n")
    assert (mf.from_, mf.system) == ("b", "two")
    assert mf.lines["system"] == [2, 3]


def test_crlf_bom_and_tabs():
    mf = parse_modelfile('\ufeffFROM\tx.gguf\r\nSYSTEM "a b"\r\nPARAMETER\ttop_k\t5\r\n')
    assert (mf.from_, mf.system, mf.parameters) == ("x.gguf", "a b", {"top_k": 5})


def test_unprintable_characters_are_dropped_like_ollama_does():
    assert parse_modelfile("FROM x\nSYSTEM a\x00b\x1bc\u200bd\n").system == "abcd"


def test_utf16_file(tmp_path):
    path = tmp_path / "Modelfile"
    path.write_bytes("FROM ./m.gguf\nSYSTEM héllo\n".encode("utf-16"))
    assert load_modelfile(path).system == "héllo"


def test_load_from_a_folder_reads_its_modelfile(tmp_path):
    (tmp_path / "Modelfile").write_text("FROM ./m.gguf\n")
    assert load_modelfile(tmp_path).from_ == "./m.gguf"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "FROM x\nPARAMETER top_k 1\n\n# c\nSYSTEM hi\n\nFORM y\n",
            r"^Modelfile:7: unknown instruction 'FORM' \(did you mean FROM\?\)$",
        ),
        (
            "FROM x\nSYTSEM hi\n",
            r"^Modelfile:2: unknown instruction 'SYTSEM' \(did you mean SYSTEM\?\)$",
        ),
        ("FROM x\nFOO: bar\n", r"^Modelfile:2: unknown instruction 'FOO:'$"),
        ("FROM x\nSYSTEM\n", r"^Modelfile:2: SYSTEM needs a value$"),
        ("FROM x\nSYSTEM", r"^Modelfile:2: SYSTEM needs a value$"),
        (
            "FROM x\nMESSAGE User hi\n",
            r"^Modelfile:2: MESSAGE role must be system, user or assistant, not 'User'$",
        ),
        ("FROM x\nMESSAGE  user hi\n", r"^Modelfile:2: MESSAGE needs a role"),
        ("FROM x\nMESSAGE user\n", r"^Modelfile:2: MESSAGE user needs a value$"),
        ("FROM x\nPARAMETER top-k 3\n", r"^Modelfile:2: bad PARAMETER name 'top-k'$"),
        ("FROM x\nPARAMETER temperature\n", r"^Modelfile:2: PARAMETER temperature needs a value$"),
        (
            "FROM x\nPARAMETER num_ctx 2k\n",
            r"^Modelfile:2: PARAMETER num_ctx must be an integer, not '2k'$",
        ),
        (
            "FROM x\nPARAMETER use_mmap yes\n",
            r"^Modelfile:2: PARAMETER use_mmap must be true or false, not 'yes'$",
        ),
        (
            'FROM x\n\nSYSTEM """never\nclosed\n',
            r'^Modelfile:3: unterminated """ value \(close it with """\)$',
        ),
        ('FROM x\nSYSTEM "open\n', r'^Modelfile:2: unterminated " value \(close it with "\)$'),
        (
            "FROM x\nREQUIRES latest\n",
            r"^Modelfile:2: REQUIRES must be an Ollama version such as 0.14.0, not 'latest'$",
        ),
        ("SYSTEM hi\n", r"^Modelfile: no FROM line"),
        ("", r"^Modelfile: no FROM line"),
    ],
)
def test_errors_name_the_line(text, message):
    with pytest.raises(GemmaikuError, match=message):
        parse_modelfile(text)


def test_load_errors_name_the_file(tmp_path):
    path = tmp_path / "Modelfile"
    path.write_text("FROM x\nFORM y\n")
    with pytest.raises(GemmaikuError, match=rf"^{path}:2: unknown instruction 'FORM'"):
        load_modelfile(path)
    with pytest.raises(GemmaikuError, match="no such file"):
        load_modelfile(tmp_path / "missing")


def test_requires_accepts_semver_with_or_without_v():
    assert parse_modelfile("FROM x\nREQUIRES v0.14.0\n").requires == "0.14.0"
    assert parse_modelfile("FROM x\nREQUIRES 1.2\n").requires == "1.2"


def test_paths_resolve_against_the_modelfile_folder(tmp_path, monkeypatch):
    mf = parse_modelfile("FROM ./models/m.gguf\n", base_dir=tmp_path)
    assert mf.resolve(mf.from_) == tmp_path / "models" / "m.gguf"
    assert mf.from_path() is None
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.gguf").write_bytes(b"GGUF")
    assert mf.from_path() == tmp_path / "models" / "m.gguf"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse_modelfile("FROM ~/models/m.gguf\n").from_path() == tmp_path / "models" / "m.gguf"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain", "plain"),
        (" padded ", '" padded "'),
        ("two\nlines", '"two\nlines"'),
        ('"starts quoted', '""starts quoted"'),
        ('ends "quoted"\nthen more', '"""ends "quoted"\nthen more"""'),
        ("", '""'),
    ],
)
def test_quote_picks_a_form_that_reads_back(value, written):
    assert quote(value) == written
    assert parse_modelfile(f"FROM x\nSYSTEM {written}\n").system == value


_pieces = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Co", "Cn", "Zl", "Zp", "Zs")),
    max_size=5,
) | st.sampled_from([" ", "\t", '"', '"""', "\n", "\r\n", "#", "{{", "}}", "SYSTEM x"])
_line_text = st.lists(_pieces, max_size=8).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    system=st.none() | _line_text,
    template=st.none() | _line_text,
    stops=st.lists(_line_text.filter(bool), max_size=3),
    license=st.lists(_line_text, max_size=2),
    messages=st.lists(
        st.tuples(st.sampled_from(["system", "user", "assistant"]), _line_text), max_size=3
    ),
    temperature=st.floats(min_value=0, max_value=5, allow_nan=False),
    seed=st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
def test_to_text_round_trips(system, template, stops, license, messages, temperature, seed):
    params = {"temperature": temperature, "seed": seed, "use_mmap": True}
    if stops:
        params["stop"] = stops
    mf = Modelfile(
        from_="./m.gguf",
        parameters=params,
        template=template,
        system=system,
        license=license,
        messages=[{"role": r, "content": c} for r, c in messages],
        requires="0.6.2",
    )
    try:
        text = mf.to_text()
    except GemmaikuError:
        return  # a value that no quoting can carry (a line ending in " plus a \"\"\" inside)
    assert parse_modelfile(text) == mf


# Cases from Ollama's own parser tests: (Modelfile text, what the instruction holds).
OLLAMA_CASES = [
    ('FROM "     model 1"\n', "from_", "     model 1"),
    ("FROM     FOOO BAR    ", "from_", "FOOO BAR"),
    ("FROM /what/is/the path ", "from_", "/what/is/the path"),
    ("FROM llama3:7b-instruct-q4_K_M", "from_", "llama3:7b-instruct-q4_K_M"),
    ("PARAMETER what the \nFROM lemons make lemonade ", "from_", "lemons make lemonade"),
    ('FROM foo\nLICENSE "MIT       "\n', "license", ["MIT       "]),
    (
        "FROM foo\nMESSAGE system You are a file parser. Always parse things.",
        "messages",
        [{"role": "system", "content": "You are a file parser. Always parse things."}],
    ),
    (
        'FROM foo\nMESSAGE system """\nYou are a multiline file parser. Always parse things.\n"""\n\t\t\t',
        "messages",
        [
            {
                "role": "system",
                "content": "\nYou are a multiline file parser. Always parse things.\n",
            }
        ],
    ),
    (
        'FROM foo\nSYSTEM """\nThis is a\nmultiline system."""\n\t\t\t',
        "system",
        "\nThis is a\nmultiline system.",
    ),
    (
        'FROM foo\nSYSTEM """This is a multiline system."""\n',
        "system",
        "This is a multiline system.",
    ),
    (
        'FROM foo\nSYSTEM """\nThis is a multiline system with "quotes".\n"""\n',
        "system",
        '\nThis is a multiline system with "quotes".\n',
    ),
    ('FROM foo\nSYSTEM """"""\n', "system", ""),
    ('FROM foo\nSYSTEM "\'"\n', "system", "'"),
    (
        'FROM foo\nSYSTEM """\'\'"\'""\'""\'"\'\'\'\'\'""\'""\'"""\n',
        "system",
        "''\"'\"\"'\"\"'\"'''''\"\"'\"\"'",
    ),
    ('FROM foo\nTEMPLATE """\n{{ .Prompt }}\n"""', "template", "\n{{ .Prompt }}\n"),
    ("FROM foo\nPARAMETER stop ### User: \n", "parameters", {"stop": ["### User:"]}),
    ('FROM foo\nPARAMETER stop "### User: "\n', "parameters", {"stop": ["### User: "]}),
    ('FROM foo\nPARAMETER stop """### User:\n"""\n', "parameters", {"stop": ["### User:\n"]}),
    (
        "FROM foo\nPARAMETER numa true\nPARAMETER penalize_newline true\n",
        "parameters",
        {"numa": True, "penalize_newline": True},
    ),
]


@pytest.mark.parametrize(("text", "attribute", "expected"), OLLAMA_CASES)
def test_ollama_parser_cases(text, attribute, expected):
    assert getattr(parse_modelfile(text), attribute) == expected


@pytest.mark.parametrize(
    "text",
    [
        'FROM foo\nSYSTEM """This is a multiline system.""\n\t\t\t',
        'FROM foo\nSYSTEM "\n\t\t\t',
        "FROM foo\nMESSAGE system\n",
        "FROM foo\nMESSAGE system",
        "FROM foo\nPARAMETER param1\n",
        "FROM foo\nBADCOMMAND param1 value1\n",
        "FROM foo\nMESSAGE badguy I'm a bad guy!\n",
    ],
)
def test_ollama_parser_rejects(text):
    with pytest.raises(GemmaikuError, match=r"^Modelfile:\d+: "):
        parse_modelfile(text)
