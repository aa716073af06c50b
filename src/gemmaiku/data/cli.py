"""`gemmaiku data`: build the fixed splits, check a corpus, print its statistics."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gemmaiku.paths import REPO_ROOT


def default_data_dir() -> Path:
    """The shipped corpus: ./data when run inside a checkout, else the repository's data/."""
    here = Path("data")
    return (
        here
        if (here / "sources").is_dir() or (here / "train.jsonl").is_file()
        else REPO_ROOT / "data"
    )


def _console():
    from rich.console import Console

    return Console(stderr=False, highlight=False, soft_wrap=True)


def print_problems(problems, limit: int) -> None:
    from collections import Counter

    console = _console()
    for problem in problems[:limit]:
        console.print(f"[red]✗[/red] {problem}", markup=True)
    if len(problems) > limit:
        console.print(f"... and {len(problems) - limit} more (use --limit or --json)")
    kinds = Counter(p.kind for p in problems)
    console.print("problems: " + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())))


def print_stats(stats: dict) -> None:
    from rich.table import Table

    console = _console()
    total = stats["conversations"]
    console.print(
        f"{total} conversations, {stats['assistant_turns']} haiku; "
        f"adversarial {stats['adversarial']} ({stats['adversarial_share']:.1%}); "
        f"multi-turn {stats['multi_turn']}; with a system turn {stats['with_system']}"
    )
    files = Table("file", "conversations", title="files")
    for label, n in stats["per_file"].items():
        files.add_row(label, str(n))
    categories = Table("category", "conversations", "share", title="categories")
    for category, n in stats["per_category"].items():
        categories.add_row(category, str(n), f"{n / total:.1%}" if total else "-")
    lengths = Table("prompt words", "conversations", title="first prompt length")
    for label, n in stats["prompt_words"].items():
        lengths.add_row(label, str(n))
    words = Table(
        "first word", "haiku", title=f"top first words ({stats['distinct_first_words']} distinct)"
    )
    for word, n in stats["top_first_words"].items():
        words.add_row(word, str(n))
    for table in (files, categories, lengths, words):
        console.print(table)


@click.group()
def data() -> None:
    """Build, check and describe the SFT corpus (data/).

    \b
    Examples:
      gemmaiku data build
      gemmaiku data check
      gemmaiku data check data/sources/essays.jsonl --json
    """


@data.command()
@click.option(
    "--sources",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of *.jsonl sources [data/sources].",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the split files [data].",
)
@click.option(
    "--skip-invalid", is_flag=True, help="Leave out bad lines (reported) instead of refusing."
)
@click.option("--limit", default=30, show_default=True, help="Problems to print.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the manifest (or the problems) as JSON."
)
def build(
    sources: Path | None, out: Path | None, skip_invalid: bool, limit: int, as_json: bool
) -> None:
    """Validate data/sources/*.jsonl and write the fixed train/valid/test splits + MANIFEST.json.

    A conversation's split is fixed by a hash of its normalized first user prompt (~88/6/6), so a
    prompt never appears in two splits. Nothing is written if any line is invalid, unless
    --skip-invalid. Exit status 1 when problems were found.

    \b
    Example:
      gemmaiku data build && gemmaiku data check
    """
    from gemmaiku.data.build import build_corpus

    root = default_data_dir()
    result = build_corpus(sources or root / "sources", out or root, skip_invalid=skip_invalid)
    if as_json:
        click.echo(
            json.dumps(
                {"manifest": result.manifest, "problems": [str(p) for p in result.problems]},
                indent=2,
            )
        )
    else:
        if result.problems:
            print_problems(result.problems, limit)
        if result.manifest:
            m = result.manifest
            counts = ", ".join(f"{name} {s['conversations']}" for name, s in m["splits"].items())
            click.echo(
                f"wrote {out or root}: {counts} (dropped {m['dropped']}); sha256 {m['sha256']}"
            )
        else:
            click.echo("nothing written (fix the sources, or pass --skip-invalid)")
    if result.problems:
        sys.exit(1)


@data.command()
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--limit", default=30, show_default=True, help="Problems to print.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def check(path: Path | None, limit: int, as_json: bool) -> None:
    """Validate a corpus (folder or .jsonl file; default the shipped data/) and print statistics.

    Checks JSON shape, roles (optional system first, user/assistant alternating, assistant last),
    every assistant turn strict 5-7-5 with no chatter, duplicate haiku and prompts, and for split
    folders leaks between train/valid/test (by normalized prompt and by haiku) and MANIFEST.json.
    Exit status 1 on any problem.

    \b
    Examples:
      gemmaiku data check
      gemmaiku data check data/sources
      gemmaiku data check data/test.jsonl --json
    """
    from gemmaiku.data.check import check_corpus

    report = check_corpus(path or default_data_dir())
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        print_stats(report.stats)
        if report.problems:
            print_problems(report.problems, limit)
        else:
            click.echo(f"ok: {report.path} passes ({report.stats['conversations']} conversations)")
    if not report.ok:
        sys.exit(1)


def markdown_stats(stats: dict) -> str:
    """The statistics as Markdown tables (pasted into docs/data.md)."""
    total = stats["conversations"] or 1
    rows = [
        f"- {stats['conversations']} conversations, {stats['assistant_turns']} haiku; "
        f"adversarial {stats['adversarial']} ({stats['adversarial_share']:.1%}); "
        f"multi-turn {stats['multi_turn']}; with a system turn {stats['with_system']}; "
        f"longest first prompt {stats['longest_prompt_words']} words",
        "",
        "| category | conversations | share |",
        "|---|---:|---:|",
        *(f"| {c} | {n} | {n / total:.1%} |" for c, n in stats["per_category"].items()),
        "",
        "| first prompt, words | conversations |",
        "|---|---:|",
        *(f"| {b} | {n} |" for b, n in stats["prompt_words"].items()),
        "",
        f"Most common first words of the haiku ({stats['distinct_first_words']} distinct): "
        + ", ".join(f"{w} {n}" for w, n in stats["top_first_words"].items()),
    ]
    return "\n".join(rows)


@data.command()
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.option("--markdown", is_flag=True, help="Print the statistics as Markdown tables.")
def stats(path: Path | None, as_json: bool, markdown: bool) -> None:
    """Print corpus statistics only (no 5-7-5 check, never fails on content).

    \b
    Example:
      gemmaiku data stats data/sources --json
    """
    from gemmaiku.data.check import load, statistics

    by_file, _ = load(path or default_data_dir())
    result = statistics(by_file)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    elif markdown:
        click.echo(markdown_stats(result))
    else:
        print_stats(result)
