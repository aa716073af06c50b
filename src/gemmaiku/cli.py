"""The `gemmaiku` command: a thin, lazily loaded front over one module per verb.

Each verb lives with its stage (``gemmaiku/<stage>/cli.py``) and is imported only when run;
``COMMANDS`` carries each verb's one-line summary, so ``gemmaiku --help`` imports no verb at all
(``python -m gemmaiku.bench.cli`` measures the start-up). Adding a verb is adding a row.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from gemmaiku import __version__
from gemmaiku.errors import GemmaikuError

# verb -> ("module:attribute" of a click command or group, its one-line summary), in pipeline
# order. The summary is the command's first docstring line (a test keeps them equal), so that
# `gemmaiku --help` lists every verb without importing any.
COMMANDS: dict[str, tuple[str, str]] = {
    "count": ("gemmaiku.prosody.cli:count", "Count syllables in TEXT, word by word (every plausible count)."),
    "check": ("gemmaiku.prosody.cli:check",
              "Check that the haiku in FILE (or stdin) are strict 5-7-5 (and, with --quality, clean)."),
    "data": ("gemmaiku.data.cli:data", "Build, check and describe the SFT corpus (data/)."),
    "base": ("gemmaiku.base.cli:base", "Build the float32 Gemma 3 base model folder and print its path."),
    "train": ("gemmaiku.train.cli:train", "Train a LoRA adapter that makes the base model answer in 5-7-5 haiku."),
    "distill": ("gemmaiku.train.selfdistill:distill",
                "Self-distillation: answer prompts by search decoding, keep the clean haiku."),
    "prefer": ("gemmaiku.train.preference:prefer",
               "Preference-tune (DPO + SFT on the chosen reply) an adapter on pairs of replies."),
    "fuse": ("gemmaiku.fuse.cli:fuse", "Fuse a LoRA adapter (peft or mlx_lm) into its base model."),
    "export": ("gemmaiku.export.cli:export",
               "Write a Gemma 3 Hugging Face folder (base or fused) as a GGUF for llama.cpp/Ollama."),
    "inspect": ("gemmaiku.export.cli:inspect", "Show a GGUF file's metadata and a summary of its tensors."),
    "modelfile": ("gemmaiku.modelfile.cli:modelfile", "Lint, render and write Ollama Modelfiles."),
    "generate": ("gemmaiku.runtime.cli:generate",
                 "Generate a reply to PROMPT with MODEL (a .gguf file or a Modelfile)."),
    "serve": ("gemmaiku.serve.cli:serve", "Serve MODELS (GGUF files or Modelfiles) with Ollama's and OpenAI's APIs."),
    "webui": ("gemmaiku.serve.webui_cli:webui",
              "Serve MODELS and open Open WebUI in front of them, offline, with one command."),
    "route": ("gemmaiku.router.cli:route",
              "Print whether TEXT goes to the haiku model or the prose model, and how sure the router is."),
    "eval": ("gemmaiku.evaluate.cli:eval_group",
             "Measure 5-7-5 adherence: adversarial suite, temperature sweep, ablations."),
    "bench": ("gemmaiku.bench.cli:bench", "Benchmarks (timings for the docs; run them alone on a quiet machine)."),
    "pipeline": ("gemmaiku.pipeline.cli:pipeline",
                 "Base -> adapter -> fuse -> GGUF -> Modelfile -> quick adversarial check."),
}


class LazyGroup(click.Group):
    """A click group that imports a verb's module only when that verb is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attribute = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in COMMANDS.items()])


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


REFERENCE_WIDTH = 100  # help text width in docs/cli.md, whatever the terminal


def reference() -> str:
    """docs/cli.md: every command's ``--help``, generated (``python -m gemmaiku.cli > docs/cli.md``;
    a test fails when the file drifts from the commands)."""
    out = ["# CLI reference", "",
           "Every command's `--help`, generated by `python -m gemmaiku.cli > docs/cli.md` (a test fails",
           "when this file drifts from the commands).", ""]

    def section(command: click.Command, ctx: click.Context) -> None:
        out.extend([f"## {ctx.command_path}", "", "```", command.get_help(ctx).rstrip(), "```", ""])
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    section(sub, click.Context(sub, info_name=name, parent=ctx))

    section(cli, click.Context(cli, info_name="gemmaiku", terminal_width=REFERENCE_WIDTH,
                               max_content_width=REFERENCE_WIDTH, **cli.context_settings))
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(reference())
