"""The Go template engine against outputs of Go's own text/template (Go 1.19, missingkey=zero,
data as Ollama passes it: a map, messages as pointers to a struct)."""

from __future__ import annotations

import pytest

from gemmaiku.modelfile.gotemplate import (
    MAX_NESTING,
    MISSING,
    ExecutionLimits,
    Struct,
    TemplateError,
    TemplateLimitError,
    cut_after_response,
    execute,
    parse_template,
)

MESSAGES = [("system", "Be brief."), ("user", "Hi"), ("assistant", "Yo"), ("user", "Again")]


def _data(messages=None):
    data = {"System": "Be brief.", "Prompt": "P"}
    if messages is not None:
        data["Messages"] = [
            Struct(
                "*main.message",
                Role=r,
                Content=c,
                Thinking="",
                Images=None,
                ToolCalls=None,
                ToolName="",
                ToolCallID="",
            )
            for r, c in messages
        ]
    return data


# (template, messages or None, what Go printed)
GO_CASES = [
    ("{{ if .X }}a{{ else if .System }}b{{ else }}c{{ end }}", None, "b"),
    (
        "{{ with .System }}[{{ . }}]{{ else }}none{{ end }}{{ with .Nope }}x{{ else }}-{{ end }}",
        None,
        "[Be brief.]-",
    ),
    ("{{ $x := 1 }}{{ range .Messages }}{{ $x = 2 }}{{ end }}{{ $x }}", MESSAGES, "2"),
    (
        "{{ range $i, $m := .Messages }}{{ if eq $i 0 }}{{ continue }}{{ end }}{{ $m.Role }}:{{ $i }};"
        "{{ if eq $i 2 }}{{ break }}{{ end }}{{ end }}",
        MESSAGES,
        "user:1;assistant:2;",
    ),
    ("{{ range $m := .Messages }}{{ $m.Content }}|{{ end }}", MESSAGES, "Be brief.|Hi|Yo|Again|"),
    (
        "{{ len .Messages }} {{ (index .Messages 1).Content }} {{ len (slice .Messages 1 3) }}",
        MESSAGES,
        "4 Hi 2",
    ),
    ('{{ slice "héllo" 0 3 }}|{{ len "héllo" }}|{{ index "abc" 1 }}', None, "hé|6|98"),
    (
        '{{ .Missing }}|{{ if .Missing }}y{{ else }}n{{ end }}|{{ eq .Missing "x" }}',
        None,
        "<no value>|n|false",
    ),
    (
        '{{ and 1 0 "x" }}|{{ or 0 "" "y" }}|{{ not .System }}|{{ and .System .Prompt }}',
        None,
        "0|y|false|P",
    ),
    (
        '{{ eq .System "S" "Be brief." }} {{ ne 1 2 }} {{ lt 1 2 }} {{ ge "a" "b" }} {{ le 1.5 1.5 }}',
        None,
        "true true true false true",
    ),
    (
        '{{ .System | printf "%s!" }} {{ printf "%d-%q-%v-%t-%5s|%-3d|" 3 "x" 1.5 true "ab" 7 }}',
        None,
        'Be brief.! 3-"x"-1.5-true-   ab|7  |',
    ),
    ('{{ print 1 2 "a" 3 "b" }}|{{ println 1 "a" }}|', None, "1 2a3b|1 a\n|"),
    ("a  {{- /* comment */ -}}  b {{/* c */}} c\n  {{- .System -}}  \n d", None, "ab  cBe brief.d"),
    (
        '{{\n  .System\n}}{{- "x" -}}\n\n{{ \'a\' }} {{ "\\u00e9\\t|" }} {{ `raw\\n` }} {{ 0x1F }} {{ 1e3 }} '
        "{{ 2.50 }} {{ -3 }} {{ true }}",
        None,
        "Be brief.x97 é\t| raw\\n 31 1000 2.5 -3 true",
    ),
    ("{{ range .Messages }}{{ else }}empty{{ end }}", [], "empty"),
    ("{{ range .Nope }}x{{ else }}none{{ end }}", None, "none"),
    (
        "{{- range $i, $_ := .Messages }}{{- $last := eq (len (slice $.Messages $i)) 1 }}{{ $i }}"
        "{{ if $last }}L{{ end }}{{ end }}",
        MESSAGES,
        "0123L",
    ),
    ('{{ json .System }} {{ json "<a&b>" }}', None, '"Be brief." "\\u003ca\\u0026b\\u003e"'),
    (
        '{{ html "<a href=\'x\'>&" }} {{ urlquery "a b&c" }}',
        None,
        "&lt;a href=&#39;x&#39;&gt;&amp; a+b%26c",
    ),
    ("{{ if $x := .System }}{{ $x }}{{ else }}{{ $x }}no{{ end }}", None, "Be brief."),
    ("{{ (.System) }} {{ (index .Messages 0).Role }}", MESSAGES, "Be brief. system"),
    (
        "{{ $.System }} {{ with .Messages }}{{ $.System }}{{ len . }}{{ end }}",
        MESSAGES,
        "Be brief. Be brief.4",
    ),
    (
        "{{ 1000000.0 }} {{ 100000.0 }} {{ 1234567.5 }} {{ 0.0001 }} {{ 0.00001234 }} {{ 3.0 }}",
        None,
        "1e+06 100000 1.2345675e+06 0.0001 1.234e-05 3",
    ),
]


@pytest.mark.parametrize(("source", "messages", "expected"), GO_CASES)
def test_renders_like_go_text_template(source, messages, expected):
    assert parse_template(source).render(_data(messages)) == expected


# Go refuses each of these, at parse or at execution time; so must we, naming the line.
GO_ERRORS = [
    "{{ if }}{{ end }}",
    "{{ end }}",
    "{{ .System .Prompt }}",
    "{{ nil }}",
    "{{ $y }}",
    "{{ nofunc 1 }}",
    "{{ if .X }}",
    "{{ .System.Foo }}",
    "{{ lt .Missing 1 }}",
    '{{ eq 1 "a" }}',
    "{{ index .Messages 9 }}",
    "{{ .Messages.Bad }}",
    "{{ range .Messages }}{{ .Nope }}{{ end }}",
    "{{ break }}",
    '{{ .X | "s" }}',
    "{{ .System",
    "{{ /* open",
]


@pytest.mark.parametrize("source", GO_ERRORS)
def test_rejects_what_go_rejects(source):
    with pytest.raises(TemplateError, match=r"template"):
        parse_template(source).render(_data(MESSAGES))


def test_error_names_the_template_line():
    with pytest.raises(TemplateError, match="template line 3: function 'trim' not defined"):
        parse_template("a\nb\n{{ trim .Content }}")


def test_unsupported_syntax_is_named():
    with pytest.raises(TemplateError, match=r"\{\{define\}\} is not supported"):
        parse_template('{{ define "x" }}y{{ end }}')


def test_missing_key_is_falsy_and_prints_no_value():
    assert parse_template("{{ .Nope }}{{ if .Nope }}yes{{ end }}").render({}) == "<no value>"
    assert parse_template("{{ print .Nope }}").render({}) == "<nil>"
    assert MISSING is not None


def test_cut_after_response_drops_everything_after_the_response_field():
    template = parse_template("<u>{{ .Prompt }}</u><m>{{ .Response }}</m>{{ if .X }}x{{ end }}tail")
    cut = cut_after_response(template.root)
    assert execute(cut, {"Prompt": "p", "Response": "r"}) == "<u>p</u><m>r"
    # The original tree is untouched.
    assert template.render({"Prompt": "p", "Response": "r"}) == "<u>p</u><m>r</m>tail"


def test_identifiers_are_lower_cased_fields_and_variables():
    names = parse_template(
        "{{ range $i, $m := .Messages }}{{ $.System }}{{ $m.Content }}{{ end }}"
    ).identifiers()
    assert {"messages", "system", "$", "$m", "content"} <= names


# -- budgets: templates come from clients --------------------------------------------------------
def test_range_iterations_are_capped_across_nested_loops():
    template = parse_template("{{ range 3000 }}{{ range 3000 }}{{ end }}{{ end }}{{ .Prompt }}")
    with pytest.raises(TemplateLimitError, match="limit of 100000 range iterations"):
        template.render(_data())
    assert parse_template("{{ range 300 }}{{ range 300 }}.{{ end }}{{ end }}").render({}) == "." * 90_000


def test_nesting_is_capped_at_parse_time_without_recursion_errors():
    fine = "{{ if 1 }}" * MAX_NESTING + "x" + "{{ end }}" * MAX_NESTING
    assert parse_template(fine).render({}) == "x"
    assert execute(cut_after_response(parse_template(fine).root), {}) == "x"
    for deep in ("{{ if 1 }}" * 300 + "x" + "{{ end }}" * 300,
                 "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
                 "{{ if 1 }}{{ else if 1 }}" * 100 + "{{ end }}"):
        with pytest.raises(TemplateLimitError, match=f"nested deeper than {MAX_NESTING}"):
            parse_template(deep)


def test_output_and_growing_values_are_capped():
    limits = ExecutionLimits(output_chars=1000)
    with pytest.raises(TemplateLimitError, match="output over the limit of 1000"):
        parse_template("{{ range 200 }}{{ $.Prompt }}-----{{ end }}").render(_data(), limits)
    doubling = '{{ $x := "ab" }}{{ range 40 }}{{ $x = print $x $x }}{{ end }}'
    with pytest.raises(TemplateLimitError, match="a value over the limit of 1000"):
        parse_template(doubling).render({}, limits)
    with pytest.raises(TemplateLimitError, match="printf width or precision 2000000"):
        parse_template('{{ printf "%2000000d" 1 }}').render({})


def test_render_time_is_capped():
    with pytest.raises(TemplateLimitError, match="rendering took over the limit of 0 s"):
        parse_template("{{ range 10 }}x{{ end }}").render({}, ExecutionLimits(seconds=0))
