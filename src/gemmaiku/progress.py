"""One rich progress display for long steps (dequantize, fuse, export, evaluation, benchmarks):
bars on stderr, one per stage, with the time left, removed when done; a no-op when disabled
(tests, --json)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

Report = Callable[[str, int, "int | None"], None]  # (stage, done, total)


@contextlib.contextmanager
def progress_bars(enabled: bool = True, labels: Mapping[str, str] | None = None, *,
                  in_bytes: bool = False) -> Iterator[Report]:
    """Yield ``report(stage, done, total)``: the first report of a stage adds its bar."""
    if not enabled:
        yield lambda stage, done, total: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    count = DownloadColumn() if in_bytes else MofNCompleteColumn()
    bar = Progress(TextColumn("{task.description}"), BarColumn(), count, TimeElapsedColumn(),
                   TextColumn("eta"), TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    tasks: dict[str, int] = {}

    def report(stage: str, done: int, total: int | None) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task((labels or {}).get(stage, stage), total=total)
        bar.update(tasks[stage], completed=done, total=total)

    with bar:
        yield report


def stepper(report: Report, stage: str, total: int) -> Callable[[], None]:
    """A callable that advances ``stage`` by one step each call."""
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        report(stage, done, total)

    report(stage, 0, total)
    return step
