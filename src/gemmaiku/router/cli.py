"""`gemmaiku route`: which model would answer this? Also trains the shipped router."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gemmaiku.errors import GemmaikuError


@click.command()
@click.argument("text", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@click.option("--train", "do_train", is_flag=True, help="Train a router on --data, report, and save it to --out.")
@click.option("--data", type=click.Path(path_type=Path, dir_okay=False), help="Labelled prompts (JSONL).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Where --train writes the router (the shipped one is never overwritten).")
def route(text: str | None, as_json: bool, do_train: bool, data: Path | None, out: Path | None) -> None:
    """Print whether TEXT goes to the haiku model or the prose model, and how sure the router is.

    TEXT '-' (or none) reads standard input.

    \b
    Examples:
      gemmaiku route "write me a poem about the sea"
      gemmaiku route "fix this python traceback" --json
      gemmaiku route --train --data data/router/prompts.jsonl --out runs/router
    """
    if do_train:
        train_and_report(data, out, as_json)
        return
    from gemmaiku.router.model import decide

    if text in (None, "-"):
        text = sys.stdin.read()
    decision, why = decide(text)
    if as_json:
        click.echo(json.dumps({"route": decision.label, "confidence": round(decision.confidence, 4), "by": why}))
    else:
        click.echo(f"{decision.label}\t{decision.confidence:.3f}\t({why})")


def train_and_report(data: Path | None, out: Path | None, as_json: bool) -> None:
    from gemmaiku.router.train import ROUTER_DATA, train_router

    if out is None:
        raise GemmaikuError("--train needs --out FOLDER (to ship the router, copy that folder over "
                            "src/gemmaiku/router/shipped)")
    router, report = train_router(data or ROUTER_DATA)
    folder = router.save(out)
    if as_json:
        click.echo(json.dumps(report.to_dict() | {"saved": str(folder)}, indent=2))
        return
    click.echo(f"held-out accuracy {report.accuracy:.3f} on {report.test_size} prompts "
               f"(trained on {report.train_size}); recall " +
               ", ".join(f"{k} {v:.3f}" for k, v in report.recall.items()) +
               f"; {report.latency_ms:.3f} ms per decision")
    for error in report.errors[:10]:
        click.echo(f"  wrong: {error['label']} -> {error['predicted']} [{error['kind']}] {error['text']!r}")
    click.echo(f"saved to {folder}")
