"""The `gemmaiku` command: a thin, lazily loaded front over one module per verb.

Each verb lives with its stage (``gemmaiku/<stage>/cli.py``) and is imported only when run, so
``gemmaiku --help`` and ``gemmaiku count`` start in a fraction of a second. Adding a verb is
adding a row to ``COMMANDS``.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from gemmaiku import __version__
from gemmaiku.errors import GemmaikuError

# verb -> "module:attribute" of a click command or group, in pipeline order.
COMMANDS: dict[str, str] = {
    "count": "gemmaiku.prosody.cli:count",
    "check": "gemmaiku.prosody.cli:check",
    "data": "gemmaiku.data.cli:data",
    "base": "gemmaiku.base.cli:base",
    "train": "gemmaiku.train.cli:train",
    "fuse": "gemmaiku.fuse.cli:fuse",
    "export": "gemmaiku.export.cli:export",
    "inspect": "gemmaiku.export.cli:inspect",
    "modelfile": "gemmaiku.modelfile.cli:modelfile",
    "generate": "gemmaiku.runtime.cli:generate",
    "serve": "gemmaiku.serve.cli:serve",
    "webui": "gemmaiku.serve.webui_cli:webui",
    "route": "gemmaiku.router.cli:route",
    "eval": "gemmaiku.evaluate.cli:eval_group",
    "bench": "gemmaiku.bench.cli:bench",
    "pipeline": "gemmaiku.pipeline.cli:pipeline",
}


class LazyGroup(click.Group):
    """A click group that imports a verb's module only when that verb is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the docstring's first line without importing heavy modules twice.
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=70)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gemmaiku")
def cli() -> None:
    """Gemmaiku: a tiny Gemma 3 that answers everything in 5-7-5, run offline.

    \b
    Examples:
      gemmaiku count "An old silent pond"
      printf 'An old silent pond\\nA frog jumps into the pond\\nSplash! Silence again\\n' | gemmaiku check -
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: turn user errors into one line, Ctrl-C into exit status 130."""
    try:
        cli.main(args=argv, prog_name="gemmaiku", standalone_mode=False)
    except GemmaikuError as exc:
        if os.environ.get("GEMMAIKU_DEBUG"):
            raise
        click.echo(f"gemmaiku: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("gemmaiku: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("gemmaiku: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
