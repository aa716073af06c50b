"""``gemmaiku count`` and ``gemmaiku check``: the syllable counter and the 5-7-5 validator."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from gemmaiku.errors import GemmaikuError

MAX_INPUT_BYTES = 64 * 1024 * 1024  # a bigger file is not a haiku collection
PROGRESS_MIN = 5000  # haiku; fewer are checked in under a second


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@click.command()
@click.argument("text", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def count(text: tuple[str, ...], as_json: bool) -> None:
    """Count syllables in TEXT, word by word (every plausible count).

    \b
    Example:
      gemmaiku count "An old silent pond"
      gemmaiku count --json "fire every 1999 FBI"
    """
    from gemmaiku.prosody.syllables import line_syllables

    line = " ".join(text)
    if len(line) > 10_000:
        raise GemmaikuError(
            f"text is {len(line)} characters (give at most 10000; use check for files)"
        )
    totals, words = line_syllables(line)
    if as_json:
        click.echo(
            json.dumps(
                {"text": line, "counts": list(totals), "words": [w.to_dict() for w in words]},
                ensure_ascii=False,
            )
        )
        return
    from rich.table import Table

    table = Table("word", "syllables", "source")
    for w in words:
        table.add_row(w.text, " or ".join(map(str, w.counts)), w.source)
    console = _console()
    console.print(table)
    console.print(f"total: {' or '.join(map(str, totals))}")


def read_input(source: str) -> str:
    """Text of FILE or stdin ('-'), as UTF-8; binary or huge input is a one-line error."""
    if source == "-":
        if sys.stdin.isatty():
            raise GemmaikuError(
                "no input: give a FILE, or pipe haiku into stdin (gemmaiku check - < haiku.txt)"
            )
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        name = "stdin"
    else:
        path = Path(source)
        if path.is_dir():
            raise GemmaikuError(f"{source} is a folder (give a text file of haiku, or - for stdin)")
        if not path.is_file():
            raise GemmaikuError(
                f"no such file: {source} (give a text file of haiku, or - for stdin)"
            )
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_INPUT_BYTES + 1)
        except OSError as exc:
            raise GemmaikuError(
                f"cannot read {source}: {exc.strerror} (check the path and permissions)"
            ) from None
        name = source
    if len(data) > MAX_INPUT_BYTES:
        raise GemmaikuError(
            f"{name} is over {MAX_INPUT_BYTES // 2**20} MiB (split it into smaller files)"
        )
    if b"\x00" in data:
        raise GemmaikuError(
            f"{name} looks binary (has NUL bytes); give UTF-8 text, haiku separated by blank lines"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GemmaikuError(
            f"{name} is not UTF-8 text (bad byte at offset {exc.start}); convert it to UTF-8"
        ) from None


def split_blocks(text: str) -> list[str]:
    """Haiku separated by one or more blank lines."""
    blocks, current = [], []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.strip():
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


@click.command()
@click.argument("source", default="-", metavar="[FILE|-]")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object per haiku, one per line (JSON Lines).",
)
@click.option(
    "--lenient", is_flag=True, help="Strip chatter (preamble, title, quotes) before checking."
)
@click.option(
    "--quality",
    is_flag=True,
    help="Also run the quality metric (dangling ends, fragments, non-words, meta-talk, echo, "
    "repeated lines): exit 0 only when every haiku is clean (strict 5-7-5 and no flag).",
)
@click.option(
    "--prompt",
    default="",
    help="With --quality: the prompt the haiku answer (its words are not non-words; copying it is an echo).",
)
@click.option("--system", default="", help="With --quality: the system text they were written under.")
def check(source: str, as_json: bool, lenient: bool, quality: bool, prompt: str, system: str) -> None:
    """Check that the haiku in FILE (or stdin) are strict 5-7-5 (and, with --quality, clean).

    Haiku are separated by blank lines; each gets a verdict with named reasons. Exit status 0
    only when all pass, 1 when any fails, 2 for unreadable input. With --quality, each quality
    flag is printed under its haiku, and the exit status is 0 only when all are clean, 1 when
    any is not (not strict, or flagged), 2 for unreadable input.

    \b
    Example:
      gemmaiku check examples/haiku.txt
      printf 'An old silent pond\\nA frog jumps into the pond\\nSplash! Silence again\\n' | gemmaiku check -
      gemmaiku check --json out.txt | jq .ok
      gemmaiku check --quality --prompt "Write a haiku about rain" replies.txt
      gemmaiku check --quality --json replies.txt | jq '.quality.flags[].kind'
    """
    from gemmaiku.prosody.haiku import check_haiku

    if (prompt or system) and not quality:
        raise GemmaikuError("--prompt and --system only matter with --quality (add --quality)")
    blocks = split_blocks(read_input(source))
    if not blocks:
        raise GemmaikuError(
            f"no haiku in {'stdin' if source == '-' else source} (give three-line haiku separated by blank lines)"
        )
    emit = None if as_json else _emitter()
    failed = unclean = 0
    for i, block in enumerate(_progress(blocks), 1):
        verdict = check_haiku(block, strict=not lenient)
        failed += not verdict.ok
        poem = "\n".join(line.text for line in verdict.lines) if lenient else block  # chatter stripped
        judged = _assess(poem, verdict.ok, prompt, system) if quality else None
        unclean += bool(judged and not judged.clean)
        if emit is None:
            extra = {"clean": judged.clean, "quality": judged.to_dict()} if judged else {}
            click.echo(json.dumps({"index": i, **verdict.to_dict(), **extra}, ensure_ascii=False))
        else:
            _print_verdict(emit, i, verdict, judged)
    if emit is not None and len(blocks) > 1:
        clean = f", {len(blocks) - unclean}/{len(blocks)} clean" if quality else ""
        emit(f"{len(blocks) - failed}/{len(blocks)} passed{clean}", None)
    if unclean if quality else failed:
        sys.exit(1)


def _assess(block: str, strict: bool, prompt: str, system: str):
    """The quality verdict of a block, strict as judged (so --lenient carries over to clean)."""
    from gemmaiku.prosody.quality import QualityVerdict, quality_flags

    return QualityVerdict(block, strict, tuple(quality_flags(block, prompt=prompt, system=system)))


def _emitter():
    """print(text, style): rich colours on a terminal, plain and fast lines otherwise."""
    if not sys.stdout.isatty():
        return lambda text, style: click.echo(text)
    from rich.markup import escape

    console = _console()
    return lambda text, style: console.print(
        f"[{style}]{escape(text)}[/{style}]" if style else escape(text)
    )


def _progress(blocks: list[str]):
    """The blocks, with a progress bar on a terminal's stderr when there are many."""
    if len(blocks) < PROGRESS_MIN or not sys.stderr.isatty():
        return blocks
    from rich.console import Console
    from rich.progress import track

    return track(blocks, description="checking", console=Console(stderr=True), transient=True)


def _print_verdict(emit, index: int, verdict, judged=None) -> None:
    clean = ""
    if judged is not None:
        n = len(judged.flags)
        clean = ", clean" if judged.clean else f", not clean ({n} flag{'s' * (n != 1)})"
    good = verdict.ok and (judged is None or judged.clean)
    emit(f"{'PASS' if verdict.ok else 'FAIL'} #{index} (distance {verdict.distance}){clean}",
         "bold green" if good else "bold red")  # fmt: skip
    for line in verdict.lines:
        counts = ",".join(map(str, line.counts))  # "4,5/5": could be 4 or 5, needs 5
        target = f"/{line.target}" if line.target is not None else ""
        emit(f"  {counts + target:>7}  {line.text[:120]}", "green" if line.ok else "red")
    for reason in verdict.reasons:
        emit(f"  - {reason}", "red")
    for flag in judged.flags if judged is not None else ():
        where = "reply" if flag.line is None else f"line {flag.line + 1}"
        emit(f"  ! {where} {flag.kind}: {flag.detail}", "yellow")
