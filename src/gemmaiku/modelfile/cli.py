"""``gemmaiku modelfile``: lint, render and write Ollama Modelfiles."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gemmaiku.errors import GemmaikuError


@click.group("modelfile")
def modelfile() -> None:
    """Lint, render and write Ollama Modelfiles.

    \b
    Examples:
      gemmaiku modelfile write --from artifacts/gemmaiku-270m-f16.gguf -o artifacts/Modelfile
      gemmaiku modelfile lint artifacts/Modelfile --strict
      gemmaiku modelfile render artifacts/Modelfile --prompt "autumn rain"
    """


@modelfile.command("lint")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Exit with status 1 when there is any warning.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def lint(path: Path, strict: bool, as_json: bool) -> None:
    """Check a Modelfile: dropped SYSTEM prompt, missing stop, missing FROM file, bad parameters.

    The template checks render the TEMPLATE as Ollama would, with sentinel texts.

    \b
    Examples:
      gemmaiku modelfile lint Modelfile
      gemmaiku modelfile lint Modelfile --strict --json
    """
    from gemmaiku.modelfile.lint import lint_modelfile
    from gemmaiku.modelfile.parser import load_modelfile

    findings = lint_modelfile(load_modelfile(path))
    warnings = sum(f.severity == "warning" for f in findings)
    notes = len(findings) - warnings
    if as_json:
        report = {
            "file": str(path),
            "warnings": warnings,
            "notes": notes,
            "findings": [f.to_dict() for f in findings],
        }
        click.echo(json.dumps(report, indent=2))
    else:
        for finding in findings:
            click.echo(finding.format(str(path)))
        click.echo(
            f"{path}: {warnings} warning{'s' * (warnings != 1)}, {notes} note{'s' * (notes != 1)}",
            err=True,
        )
    if strict and warnings:
        sys.exit(1)


@modelfile.command("render")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--prompt", "-p", help="The user's message (as in /api/generate).")
@click.option(
    "--system", "-s", help="The request's own system prompt: it replaces the Modelfile's SYSTEM ('' for none)."
)
@click.option(
    "--messages",
    "-m",
    "messages_file",
    type=click.File("r"),
    help="A JSON file (or - for stdin) with a list of {role, content} or a chat request {messages: [...]}.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"prompt": ...} as JSON.')
def render(
    path: Path, prompt: str | None, system: str | None, messages_file, as_json: bool
) -> None:
    """Print the exact prompt text the model sees for a request, as `gemmaiku serve` builds it.

    The one conversation policy (system prompt first, contents stripped, runs merged, tool
    turns dropped, images refused), then the TEMPLATE rendered as Ollama renders it.

    \b
    Examples:
      gemmaiku modelfile render Modelfile --prompt "autumn rain"
      gemmaiku modelfile render Modelfile --system "Answer in prose." --prompt "rain"
      echo '[{"role":"user","content":"rain"}]' | gemmaiku modelfile render Modelfile -m -
    """
    from gemmaiku.modelfile.parser import load_modelfile
    from gemmaiku.modelfile.prompt import render_prompt

    messages: list = []
    if messages_file is not None:
        try:
            data = json.load(messages_file)
        except json.JSONDecodeError as exc:
            raise GemmaikuError(
                f"--messages is not JSON: {exc.msg} at line {exc.lineno} (give a list of {{role, content}})"
            ) from None
        messages = data.get("messages") if isinstance(data, dict) else data
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise GemmaikuError(
                '--messages must hold a list of {"role": ..., "content": ...} objects'
            )
    if prompt is not None:
        messages = [*messages, {"role": "user", "content": prompt}]
    if not messages:
        raise GemmaikuError("nothing to render (give --prompt TEXT or --messages FILE)")
    text = render_prompt(load_modelfile(path), messages, system=system)
    if as_json:
        click.echo(json.dumps({"prompt": text}, ensure_ascii=False))
    else:
        click.echo(text, nl=False)


@modelfile.command("write")
@click.option(
    "--from", "gguf", required=True, type=click.Path(path_type=Path), help="The fine-tuned GGUF."
)
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="Where to write the Modelfile.",
)
@click.option("--system", help="System prompt (default: gemmaiku's haiku prompt).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def write(gguf: Path, output: Path, system: str | None, as_json: bool) -> None:
    """Write Gemmaiku's Modelfile for a GGUF: its chat template, system prompt and stop.

    FROM is written relative to the Modelfile's folder, and the file is written atomically.

    \b
    Examples:
      gemmaiku modelfile write --from artifacts/gemmaiku-270m-f16.gguf -o artifacts/Modelfile
      ollama create gemmaiku -f artifacts/Modelfile
    """
    from gemmaiku.chat import DEFAULT_SYSTEM_PROMPT
    from gemmaiku.modelfile.lint import lint_modelfile
    from gemmaiku.modelfile.parser import load_modelfile
    from gemmaiku.modelfile.write import gemmaiku_modelfile, write_modelfile

    if not gguf.is_file():
        raise GemmaikuError(f"no such file: {gguf} (give the GGUF that gemmaiku export wrote)")
    written = write_modelfile(
        gemmaiku_modelfile(gguf, system=system if system is not None else DEFAULT_SYSTEM_PROMPT),
        output,
    )
    findings = [f for f in lint_modelfile(load_modelfile(written)) if f.severity == "warning"]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "path": str(written),
                    "from": str(gguf),
                    "warnings": [f.to_dict() for f in findings],
                },
                indent=2,
            )
        )
    else:
        click.echo(f"wrote {written}")
        for finding in findings:
            click.echo(finding.format(str(written)), err=True)


@modelfile.command("params")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def params(as_json: bool) -> None:
    """List the PARAMETERs Ollama knows: type, default, range, status.

    \b
    Example:
      gemmaiku modelfile params
    """
    from gemmaiku.modelfile.parameters import PARAMETERS

    if as_json:
        rows = [
            {
                "name": p.name,
                "type": p.type,
                "default": p.default,
                "range": p.describe_range(),
                "status": p.status,
                "help": p.help,
            }
            for p in PARAMETERS.values()
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    for p in PARAMETERS.values():
        default = "" if p.default is None else json.dumps(p.default)
        click.echo(
            f"{p.name:22} {p.type:6} {default:8} {p.describe_range():16} {p.status:10} {p.help}".rstrip()
        )
