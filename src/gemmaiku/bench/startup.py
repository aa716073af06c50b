"""Benchmark: how fast the `gemmaiku` command starts. Not a test.

    python -m gemmaiku.bench.cli [--runs N] [--json]

Each case (:data:`CASES`) runs ``runs`` times as a fresh process, after one unmeasured run that
warms the OS file cache and the lexicon's disk cache. Printed per case: the median and best wall
time, the median CPU time of the process (user + system: what the start-up costs when the
machine is busy with something else, where wall time also counts waiting for a core), and the
heavy packages it loaded (none of FastAPI, uvicorn or llama.cpp should appear for these verbs).
Run it on a quiet machine; the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

# name -> gemmaiku's arguments
CASES: dict[str, list[str]] = {
    "--help": ["--help"],
    "count hello": ["count", "hello"],
    "check (one haiku)": ["check", "-"],
    "route": ["route", "write me a poem about the sea"],
    "modelfile --help": ["modelfile", "--help"],
}
HAIKU = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again\n"
HEAVY = ("fastapi", "uvicorn", "starlette", "llama_cpp", "torch", "transformers", "numpy")

# Runs the CLI in-process as the `gemmaiku` script does, then reports which heavy packages it loaded.
RUNNER = """
import sys
from gemmaiku.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = [m for m in {heavy!r} if m in sys.modules]
print("\\nHEAVY=" + ",".join(heavy), file=sys.stderr)
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(args: list[str]) -> tuple[float, float, list[str]]:
    """Wall and CPU seconds of one fresh `gemmaiku ARGS` process, and the heavy packages it imported."""
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUNNER.format(heavy=HEAVY), *args], input=HAIKU,
                          capture_output=True, text=True, check=False)
    elapsed, cpu = time.perf_counter() - started, _children_cpu() - cpu
    marker = [line for line in done.stderr.splitlines() if line.startswith("HEAVY=")]
    if not marker:
        raise SystemExit(f"gemmaiku {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return elapsed, cpu, [m for m in marker[-1].removeprefix("HEAVY=").split(",") if m]


def measure(runs: int) -> list[dict[str, object]]:
    rows = []
    for name, args in CASES.items():
        run_once(args)  # warm-up: file cache, lexicon cache
        walls, cpus, heavy = [], [], []
        for _ in range(runs):
            elapsed, cpu, heavy = run_once(args)
            walls.append(elapsed)
            cpus.append(cpu)
        rows.append({"case": f"gemmaiku {name}", "median_s": round(statistics.median(walls), 3),
                     "best_s": round(min(walls), 3), "cpu_median_s": round(statistics.median(cpus), 3),
                     "runs": runs, "heavy_imports": heavy})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gemmaiku.bench.cli", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="measured runs per case (default 7)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    load = [round(x, 2) for x in os.getloadavg()]
    rows = measure(max(1, args.runs))
    if args.json:
        print(json.dumps({"python": sys.version.split()[0], "load_average_before": load, "rows": rows}, indent=2))
        return
    print(f"python {sys.version.split()[0]}, load average before: {load}")
    print(f"{'case':28} {'median s':>9} {'best s':>7} {'cpu s':>6}  heavy imports")
    for row in rows:
        print(f"{row['case']:28} {row['median_s']:9.3f} {row['best_s']:7.3f} {row['cpu_median_s']:6.3f}  "
              f"{', '.join(row['heavy_imports']) or '-'}")
