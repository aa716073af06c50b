"""One options table: the runtime, the Modelfile linter, the CLI and the evaluation agree on it."""

from __future__ import annotations

import math

import pytest

from gemmaiku.errors import GemmaikuError
from gemmaiku.modelfile import gemmaiku_modelfile, lint_modelfile, parse_modelfile
from gemmaiku.options import CURRENT, OPTIONS, RUNTIME, SHIPPED, ollama_defaults
from gemmaiku.runtime.options import GenerationOptions, options_from


def test_ollama_defaults_are_stated_once_and_match_ollama():
    # api.DefaultOptions in Ollama 0.12 (the API level the server speaks)
    assert ollama_defaults() == {
        "num_ctx": 4096, "num_batch": 512, "num_gpu": -1, "num_thread": 0, "draft_num_predict": 4,
        "num_keep": 4, "seed": -1, "num_predict": -1, "top_k": 40, "top_p": 0.9, "min_p": 0.0,
        "typical_p": 1.0, "repeat_last_n": 64, "temperature": 0.8, "repeat_penalty": 1.1,
        "presence_penalty": 0.0, "frequency_penalty": 0.0, "stop": [],
    }
    assert "mirostat" not in ollama_defaults() and "mirostat" not in CURRENT  # ollama create drops it


def test_runtime_options_are_the_tables_runtime_rows_with_its_defaults():
    assert set(GenerationOptions.model_fields) == set(RUNTIME)
    defaults = GenerationOptions()
    for name in RUNTIME:
        assert getattr(defaults, name) == OPTIONS[name].default, name


def _lint_problem(name: str, value: object) -> str | None:
    line = f"PARAMETER {name} {value}"
    findings = lint_modelfile(parse_modelfile(f"FROM x.gguf\n{line}\n"))
    ranges = [f for f in findings if f.code == "parameter-range"]
    return ranges[0].message if ranges else None


CASES = [
    ("repeat_penalty", 0), ("repeat_penalty", 0.5), ("repeat_penalty", 10), ("repeat_penalty", 11),
    ("temperature", -1), ("temperature", 0), ("temperature", 5), ("temperature", 7),
    ("num_ctx", 8), ("num_ctx", 16), ("num_ctx", 2_000_000), ("top_p", 1.5), ("top_p", 0.2),
    ("top_k", -1), ("top_k", 0), ("seed", -1), ("seed", -5), ("seed", 2**33), ("num_predict", -3),
    ("num_predict", -2), ("min_p", 2), ("presence_penalty", -3), ("repeat_last_n", -2),
]


@pytest.mark.parametrize(("name", "value"), CASES)
def test_server_accepts_exactly_what_the_linter_accepts(name, value):
    """The copies once disagreed: the server took repeat_penalty 0, which the linter called broken."""
    problem = _lint_problem(name, value)
    if problem is None:
        assert getattr(options_from({name: value}), name) == value
    else:
        with pytest.raises(GemmaikuError) as info:
            options_from({name: value})
        assert str(info.value) == f"bad option {problem}"


def test_values_convert_the_way_ollama_does():
    options = options_from({"top_k": 3.0, "temperature": 1, "stop": "<end_of_turn>", "unknown": 1, "seed": None})
    assert (options.top_k, options.temperature, options.stop) == (3, 1.0, ["<end_of_turn>"])
    with pytest.raises(GemmaikuError, match="option 'top_k' must be an integer"):
        options_from({"top_k": "many"})
    with pytest.raises(GemmaikuError, match="stop has 17 entries, more than 16"):
        options_from({"stop": [f"s{i}" for i in range(17)]})


def test_options_remember_what_was_set():
    base = options_from({"temperature": 0.6})
    merged = base.merged({"seed": 7})
    assert merged.model_dump(exclude_unset=True) == {"temperature": 0.6, "seed": 7}
    assert merged.top_k == 40  # Ollama's default, not sent to a remote model


def test_the_shipped_values_are_one_set():
    from gemmaiku.evaluate.run import DEFAULT_OPTIONS

    assert gemmaiku_modelfile("m.gguf").parameters == SHIPPED
    assert {k: DEFAULT_OPTIONS[k] for k in ("temperature", "repeat_penalty")} == {
        k: SHIPPED[k] for k in ("temperature", "repeat_penalty")
    }
    findings = lint_modelfile(parse_modelfile(gemmaiku_modelfile("m.gguf").to_text()))
    assert not [f for f in findings if "parameter" in f.code]


def test_ranges_read_well():
    assert OPTIONS["repeat_penalty"].describe_range() == "above 0 to 10"
    assert OPTIONS["temperature"].describe_range() == "0 to 5"
    assert OPTIONS["stop"].describe_range() == "up to 16 non-empty strings"
    assert OPTIONS["temperature"].check(math.nan) == "temperature is NaN"


def test_the_cli_reads_options_by_the_table():
    from gemmaiku.runtime.cli import parse_option_pairs

    assert parse_option_pairs(("temperature=0.6", "stop=a", "stop=<end_of_turn>", "top_k=5")) == {
        "temperature": 0.6, "stop": ["a", "<end_of_turn>"], "top_k": 5}
    with pytest.raises(GemmaikuError, match=r"unknown option 'tempreature' .*did you mean temperature\?"):
        parse_option_pairs(("tempreature=1",))
    with pytest.raises(GemmaikuError, match="top_k must be an integer, not 'many'"):
        parse_option_pairs(("top_k=many",))
    with pytest.raises(GemmaikuError, match="unknown option 'num_gpu'"):  # Ollama's, but not a runtime option here
        parse_option_pairs(("num_gpu=1",))
