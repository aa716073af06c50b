"""`gemmaiku data`: build the fixed splits, check a corpus, print its statistics."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def default_data_dir() -> Path:
    """The shipped corpus: data/ in the current folder (a checkout's root)."""
    return Path("data")


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
      gemmaiku data distill-prompts
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
    """Validate a corpus (folder or .jsonl file; default the shipped data/ and data/distill/).

    Checks JSON shape, roles (optional system first, user/assistant alternating, assistant last),
    every assistant turn strict 5-7-5 with no chatter, duplicate haiku and prompts, and for split
    folders leaks between train/valid/test (by normalized prompt and by haiku) and MANIFEST.json.
    A distillation folder (one with prompts.jsonl) is checked as such: ids, categories, no prompt
    near a valid/test/suite prompt, model-made rounds strict 5-7-5, its own MANIFEST.json.
    Exit status 1 on any problem.

    \b
    Examples:
      gemmaiku data check
      gemmaiku data check data/sources
      gemmaiku data check data/distill --json
      gemmaiku data check data/test.jsonl --json
    """
    reports = [check_one(folder) for folder in _check_targets(path)]
    if as_json:
        payload = reports[0].to_json()
        if len(reports) > 1:  # the default: the corpus report, the distillation folder's inside
            payload["distill"] = reports[1].to_json()
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        for report in reports:
            if "per_file" in report.stats:
                print_stats(report.stats)
            else:
                print_distill_stats(report.stats)
            if report.problems:
                print_problems(report.problems, limit)
            else:
                click.echo(f"ok: {report.path} passes ({_size(report.stats)})")
    if not all(r.ok for r in reports):
        sys.exit(1)


def _check_targets(path: Path | None) -> list[Path]:
    if path is not None:
        return [path]
    root = default_data_dir()
    return [root, root / "distill"] if (root / "distill").is_dir() else [root]


def check_one(path: Path):
    from gemmaiku.data.distill_check import check_distill, is_distill_folder

    if is_distill_folder(path):
        return check_distill(path)
    from gemmaiku.data.check import check_corpus

    return check_corpus(path)


def _size(stats: dict) -> str:
    if "conversations" in stats:
        return f"{stats['conversations']} conversations"
    rounds = sum(stats["rounds"].values())
    return f"{stats['rows']} prompts, {rounds} model-made replies"


def print_distill_stats(stats: dict) -> None:
    from rich.table import Table

    console = _console()
    console.print(
        f"{stats['rows']} prompts; adversarial {stats['adversarial_share']:.1%}; "
        f"multi-turn {stats['multi_turn']}; with a system turn {stats['with_system']}; "
        f"over 200 words {stats['long_prompts']}"
    )
    categories = Table("category", "prompts", "share", title="categories")
    for category, n in stats["per_category"].items():
        categories.add_row(str(category), str(n), f"{n / max(stats['rows'], 1):.1%}")
    lengths = Table("words", "prompts", title="last user turn length")
    for label, n in stats["prompt_words"].items():
        lengths.add_row(label, str(n))
    rounds = Table("round", "model-made replies", title="rounds")
    for name, n in stats.get("rounds", {}).items():
        rounds.add_row(name, str(n))
    console.print(categories)
    console.print(lengths)
    if stats.get("rounds"):
        console.print(rounds)


@data.command("distill-prompts")
@click.option(
    "--sources",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of prompt sources [data/distill/sources].",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Distillation folder [data/distill].",
)
@click.option(
    "--corpus",
    type=click.Path(path_type=Path),
    default=None,
    help="Corpus folder with the splits [data].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def distill_prompts(
    sources: Path | None, out: Path | None, corpus: Path | None, as_json: bool
) -> None:
    """Build data/distill/prompts.jsonl (prompts for self-distillation) and its MANIFEST.json.

    Reads the hand-written sources (one-line and long prompts, composition tables, system turns,
    follow-ups after train conversations), drops repeats, train prompts and anything near a
    valid/test/suite prompt, and writes rows sorted by id. Deterministic; rerun it after adding a
    round<N>.jsonl to refresh the manifest.

    \b
    Example:
      gemmaiku data distill-prompts && gemmaiku data check data/distill
    """
    from gemmaiku.data.distill import build_prompts

    root = default_data_dir()
    folder = out or root / "distill"
    result = build_prompts(sources or folder / "sources", corpus or root, folder)
    if as_json:
        click.echo(json.dumps(result.manifest, indent=2, ensure_ascii=False))
        return
    dropped = ", ".join(f"{reason} {n}" for reason, n in sorted(result.dropped.items())) or "none"
    click.echo(
        f"wrote {folder / 'prompts.jsonl'}: {len(result.rows)} prompts (dropped: {dropped}); "
        f"sha256 {result.manifest['sha256']}"
    )


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

    A distillation folder (data/distill) gets its prompts' statistics.

    \b
    Examples:
      gemmaiku data stats data/sources --json
      gemmaiku data stats data/distill --markdown
    """
    from gemmaiku.data.distill_check import is_distill_folder

    path = path or default_data_dir()
    if is_distill_folder(path):
        from gemmaiku.data.distill import prompt_stats
        from gemmaiku.data.distill_check import read_rows

        rows, _ = read_rows(path / "prompts.jsonl", "prompts.jsonl")
        result = prompt_stats([obj for _, obj in rows])
        show = print_distill_stats
        to_markdown = markdown_distill_stats
    else:
        from gemmaiku.data.check import load, statistics

        by_file, _ = load(path)
        result = statistics(by_file)
        show, to_markdown = print_stats, markdown_stats
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    elif markdown:
        click.echo(to_markdown(result))
    else:
        show(result)


def markdown_distill_stats(stats: dict) -> str:
    """A distillation folder's prompt statistics as Markdown (pasted into docs/data.md)."""
    total = stats["rows"] or 1
    rows = [
        f"- {stats['rows']} prompts; adversarial {stats['adversarial_share']:.1%}; "
        f"multi-turn {stats['multi_turn']} ({stats['multi_turn'] / total:.1%}); "
        f"with a system turn {stats['with_system']} ({stats['with_system'] / total:.1%}); "
        f"last user turn over 200 words {stats['long_prompts']}",
        "",
        "| category | prompts | share |",
        "|---|---:|---:|",
        *(f"| {c} | {n} | {n / total:.1%} |" for c, n in stats["per_category"].items()),
        "",
        "| last user turn, words | prompts |",
        "|---|---:|",
        *(f"| {b} | {n} |" for b, n in stats["prompt_words"].items()),
    ]
    return "\n".join(rows)
