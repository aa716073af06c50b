"""Reports: one folder per run, JSON for machines, Markdown for people, PNG plots, written atomically.

Every report records the exact command that produced it, the package version, the host, the
time and the targets (a GGUF's sha256, cached by path, size and mtime so that a 500 MB file is
hashed once). ``report.json`` holds everything; ``report.md`` the tables; ``*.png`` the plots;
``samples.jsonl`` every reply with its verdict. A run stopped with Ctrl-C still writes its report,
marked ``"partial": true``.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gemmaiku.atomic import atomic_dir
from gemmaiku.paths import file_sha256  # noqa: F401 - re-exported for report writers


def command_line() -> str:
    """The command as typed (program name shortened to `gemmaiku` when run through it)."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("gemmaiku", "__main__.py"):
        argv[0] = "gemmaiku"
    return shlex.join(argv)


def provenance() -> dict[str, Any]:
    from gemmaiku import __version__

    return {
        "command": command_line(),
        "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "gemmaiku": __version__,
        "python": platform.python_version(),
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(),
                 "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None},
    }


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " / ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def md_header(title: str, payload: Mapping[str, Any]) -> str:
    """Title, partial warning, command and targets: the top of every Markdown report."""
    prov = payload["provenance"]
    lines = [f"# {title}", ""]
    if payload.get("partial"):
        lines += ["**Partial run** (interrupted): the figures cover only what finished.", ""]
    lines += [f"Command: `{prov['command']}`", "",
              f"Created {prov['created']} by gemmaiku {prov['gemmaiku']} on {prov['host']['cpus']} CPUs "
              f"(load average at the end: {prov['host']['load_average']}).", ""]
    targets = payload.get("targets") or []
    if targets:
        lines.append("Targets:")
        for t in targets:
            what = t.get("path") or f"{t.get('url')} model {t.get('model')}"
            sha = f", sha256 `{t['sha256']}`" if t.get("sha256") else ""
            guard = f", guarded x{t['guard']}" if t.get("guard") else ""
            lines.append(f"- `{t.get('label', t['spec'])}`: {t['kind']} {what}{sha}{guard}")
        lines.append("")
    return "\n".join(lines)


Figure = Callable[[Path], None]


def write_report(out: str | os.PathLike[str], payload: dict[str, Any], markdown: str, *,
                 samples: Sequence[Mapping[str, Any]] = (), figures: Mapping[str, Figure] | None = None) -> Path:
    """Write the report folder ``out`` atomically (a temp folder renamed into place)."""
    out = Path(out)
    with atomic_dir(out) as tmp:
        (tmp / "report.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "report.md").write_text(markdown.rstrip() + "\n", encoding="utf-8")
        if samples:
            with (tmp / "samples.jsonl").open("w", encoding="utf-8") as handle:
                for sample in samples:
                    handle.write(json.dumps(sample, ensure_ascii=False) + "\n")
        for name, draw in (figures or {}).items():
            draw(tmp / name)
    return out


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
