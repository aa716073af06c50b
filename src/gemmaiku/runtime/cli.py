"""`gemmaiku generate`: one reply from a GGUF (or a Modelfile), streamed to stdout."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gemmaiku.errors import GemmaikuError


def parse_option_pairs(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``-o NAME=VALUE`` pairs as typed options: NAME from Ollama's option table (gemmaiku.options),
    VALUE read the way a Modelfile's PARAMETER value is; ``-o stop=...`` may repeat."""
    from gemmaiku.modelfile.parameters import parse_value
    from gemmaiku.modelfile.parser import suggest_parameter
    from gemmaiku.options import OPTIONS, RUNTIME

    options: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise GemmaikuError(f"bad option {pair!r} (write -o name=value, e.g. -o temperature=0.6)")
        if name not in RUNTIME:
            hint = suggest_parameter(name) or " (gemmaiku modelfile params lists the options)"
            raise GemmaikuError(f"unknown option {name!r} in -o {pair}{hint}")
        try:
            value = parse_value(name, text)
        except GemmaikuError as exc:
            raise GemmaikuError(f"bad option -o {pair}: {exc}") from None
        if OPTIONS[name].type == "list":
            options.setdefault(name, []).extend(value)
        else:
            options[name] = value
    return options


def engine_for(model: str, overrides: dict[str, object]):
    """An Engine for a GGUF path or a Modelfile (its FROM, TEMPLATE and PARAMETERs), and the
    Modelfile (for its SYSTEM and MESSAGEs), or None for a bare GGUF."""
    from gemmaiku.runtime import Engine, options_from

    path = Path(model)
    if not path.exists():
        raise GemmaikuError(f"no such model: {model} (give a .gguf file or a Modelfile)")
    if path.suffix == ".gguf":
        return Engine(path, options=options_from(overrides)), None
    from gemmaiku.modelfile import load_modelfile

    modelfile = load_modelfile(path)
    return Engine.from_modelfile(modelfile, overrides), modelfile


@click.command()
@click.argument("model")
@click.argument("prompt")
@click.option("--system", "-s", help="System prompt (replaces a Modelfile's SYSTEM; '' for none).")
@click.option("--option", "-o", "option_pairs", multiple=True, metavar="NAME=VALUE",
              help="Generation option in Ollama's names, repeatable: -o temperature=0.6 -o seed=1")
@click.option("--guard", type=click.IntRange(0), default=0, show_default=True, metavar="K",
              help="Search decoding with K candidates per line, as `serve --guard` (0: the model alone).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with text and stats.")
def generate(model: str, prompt: str, system: str | None, option_pairs: tuple[str, ...], guard: int,
             as_json: bool) -> None:
    """Generate a reply to PROMPT with MODEL (a .gguf file or a Modelfile).

    \b
    Example:
      gemmaiku generate artifacts/gemmaiku-270m-f16.gguf "Explain recursion" -o temperature=0.6
      gemmaiku generate artifacts/Modelfile "Is the sky blue?" --guard 4 --json
    """
    from gemmaiku.modelfile.prompt import modelfile_conversation

    engine, modelfile = engine_for(model, parse_option_pairs(option_pairs))
    if guard:
        from gemmaiku.runtime.guarded import GuardedEngine

        engine = GuardedEngine(engine, guard)
    own = [{"role": "system", "content": system}] if system is not None else []
    messages = modelfile_conversation(modelfile, [*own, {"role": "user", "content": prompt}])
    pieces, last = [], None
    for chunk in engine.stream(messages):
        pieces.append(chunk.text)
        last = chunk
        if not as_json:
            sys.stdout.write(chunk.text)
            sys.stdout.flush()
    assert last is not None
    if as_json:
        click.echo(json.dumps({
            "model": model, "text": "".join(pieces), "finish_reason": last.finish_reason,
            "prompt_tokens": last.prompt_tokens, "generated_tokens": last.generated_tokens,
            "load_s": round(last.load_s, 4), "prompt_eval_s": round(last.prompt_eval_s, 4),
            "eval_s": round(last.eval_s, 4), **({"search": last.extra["search"]} if guard and last.extra else {}),
        }))
    else:
        sys.stdout.write("\n")
