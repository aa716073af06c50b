"""The verb table: one-line summaries that match each verb's help, and one error path."""

from __future__ import annotations

import click
import pytest

from gemmaiku.cli import COMMANDS, cli


@pytest.mark.parametrize("verb", list(COMMANDS))
def test_summary_in_the_table_is_the_verbs_first_help_line(verb):
    command = cli.get_command(click.Context(cli), verb)
    assert command is not None
    assert COMMANDS[verb][1] == command.get_short_help_str(limit=1000), (
        f"update the summary of {verb!r} in gemmaiku.cli.COMMANDS")


def test_unknown_verb_is_one_line(capsys):
    from gemmaiku.cli import main

    with pytest.raises(SystemExit) as info:
        main(["coutn"])
    assert info.value.code == 2 and "No such command 'coutn'" in capsys.readouterr().err


def test_docs_cli_md_is_the_commands_own_help():
    from gemmaiku.cli import reference
    from tests import REPO_ROOT

    assert (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == reference(), (
        "docs/cli.md drifted from the commands' help: python -m gemmaiku.cli > docs/cli.md")


def test_every_command_has_an_example():
    from gemmaiku.cli import reference

    sections = reference().split("\n## ")[1:]
    missing = [s.splitlines()[0] for s in sections if "Example" not in s and "Commands:" not in s]
    assert not missing, missing
