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
