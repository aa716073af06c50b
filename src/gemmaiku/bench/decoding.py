"""Benchmark: unguarded vs metered vs search decoding on the adversarial suite.

For every prompt of the built-in suite (108), every seed and every arm, one reply from the same
GGUF with the shipped Modelfile's options and system prompt:

* ``unguarded``: the model alone;
* ``meter``: metered decoding with up to 4 attempts until one is strict (the earlier guard);
* ``search-K``: search decoding with K candidates per line (what ``serve --guard NAME=K`` does).

Reported per arm: strict rate and clean rate (strict and no quality flag) with Wilson intervals,
paired McNemar tests against the unguarded arm, the mean log-probability per token of the reply
under the unconstrained model (how far the constraint pushed the model off its own path),
latency p50/p95 and tokens decoded per reply. Arms alternate prompt by prompt, so load hits them
alike. A benchmark, not a test: run it on a quiet machine.

    python -m gemmaiku.bench.decoding artifacts/Modelfile --threads 2 --seeds 3 --out reports/decoding
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click

from gemmaiku.runtime.generator import Result

METER_ATTEMPTS = 4
RETRY_TEMPERATURE = 0.7


@dataclass
class Reply:
    arm: str
    prompt_id: str
    category: str
    seed: int
    text: str
    strict: bool
    clean: bool
    flags: list[str]
    latency_s: float
    decoded_tokens: int
    logprob: float
    scored_tokens: int
    path: str = ""


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def metered_with_retries(engine: Any, messages: list[dict[str, str]], options: Any) -> tuple[Result, int]:
    """The earlier guard: metered samples, retried (new seed, T >= 0.7) until one is strict."""
    from gemmaiku.prosody import check_haiku

    decoded, result = 0, None
    for attempt in range(METER_ATTEMPTS):
        opts = options if attempt == 0 else options.model_copy(update={
            "seed": options.seed + attempt, "temperature": max(options.temperature, RETRY_TEMPERATURE)})
        result = engine.generate(messages, options=opts, meter=(5, 7, 5), score=True)
        decoded += result.generated_tokens + 1
        if check_haiku(result.text).ok:
            break
    assert result is not None
    return result, decoded


def arms_for(engine: Any, names: Sequence[str]) -> dict[str, Callable[[list[dict[str, str]], Any], tuple[Result, int]]]:
    from gemmaiku.runtime.search import SearchEngine, SearchSettings

    table: dict[str, Callable] = {}
    for name in names:
        if name == "unguarded":
            def plain(messages, options):
                result = engine.generate(messages, options=options, score=True)
                return result, result.generated_tokens + 1
            table[name] = plain
        elif name == "meter":
            table[name] = lambda messages, options: metered_with_retries(engine, messages, options)
        elif name.startswith("search-"):
            k = int(name.split("-", 1)[1])
            searcher = SearchEngine(engine, SearchSettings(candidates=k, widen_candidates=2 * k))

            def searched(messages, options, searcher=searcher):
                result = searcher.generate(messages, options=options)
                return result, result.extra["search"]["decoded_tokens"]
            table[name] = searched
        else:
            raise click.BadParameter(f"unknown arm {name!r} (unguarded, meter, search-K)")
    return table


def run(model: str, arms: Sequence[str], seeds: int, threads: int, limit: int | None,
        progress: bool = True) -> list[Reply]:
    from gemmaiku.evaluate.scoring import judge
    from gemmaiku.evaluate.suite import builtin_suite
    from gemmaiku.progress import progress_bars
    from gemmaiku.runtime.cli import engine_for
    from gemmaiku.runtime.options import options_from

    engine, modelfile = engine_for(model, {})
    system = modelfile.system if modelfile is not None else None
    engine.n_threads = threads
    table = arms_for(engine, arms)
    engine.load()
    prompts = builtin_suite()[: limit or None]
    replies: list[Reply] = []
    total = len(prompts) * seeds * len(table)
    with progress_bars(progress) as report:
        for prompt in prompts:
            messages = prompt.with_system(system)
            for seed in range(1, seeds + 1):
                options = options_from({"seed": seed}, base=engine.options)
                for arm, generate in table.items():
                    started = time.perf_counter()
                    result, decoded = generate(messages, options)
                    latency = time.perf_counter() - started
                    verdict = judge(result.text, prompt=prompt.text, system=system)
                    extra = dict(result.extra or {})
                    search = extra.get("search", {})
                    logprob = search.get("logprob", extra.get("logprob", 0.0))
                    scored = sum(line["tokens"] for line in search.get("lines", [])) or extra.get("scored_tokens", 0)
                    replies.append(Reply(arm, prompt.id, prompt.category, seed, result.text, verdict.ok,
                                         verdict.clean, sorted({f["kind"] for f in verdict.flags}), latency,
                                         decoded, logprob, scored, search.get("path", "")))
                    report("decode", len(replies), total)
    return replies


def summarize(replies: Sequence[Reply], reference: str = "unguarded") -> list[dict[str, Any]]:
    from gemmaiku.evaluate.scoring import Rate, mcnemar_exact

    by_arm: dict[str, list[Reply]] = {}
    for reply in replies:
        by_arm.setdefault(reply.arm, []).append(reply)
    ref = {(r.prompt_id, r.seed): r for r in by_arm.get(reference, [])}
    rows = []
    for arm, items in by_arm.items():
        latencies = [r.latency_s for r in items]
        scored = sum(r.scored_tokens for r in items)
        row: dict[str, Any] = {
            "arm": arm, "n": len(items),
            "strict": Rate(sum(r.strict for r in items), len(items)).to_dict(),
            "clean": Rate(sum(r.clean for r in items), len(items)).to_dict(),
            "mean_logprob_per_token": round(sum(r.logprob for r in items) / scored, 4) if scored else None,
            "latency_p50_s": round(percentile(latencies, 50), 3),
            "latency_p95_s": round(percentile(latencies, 95), 3),
            "decoded_tokens_per_reply": round(sum(r.decoded_tokens for r in items) / len(items), 1),
            "paths": {p: sum(r.path == p for r in items) for p in sorted({r.path for r in items if r.path})},
        }
        if arm != reference and ref:
            for what in ("strict", "clean"):
                pairs = [(getattr(ref[(r.prompt_id, r.seed)], what), getattr(r, what))
                         for r in items if (r.prompt_id, r.seed) in ref]
                b = sum(a and not o for a, o in pairs)
                c = sum(o and not a for a, o in pairs)
                row[f"{what}_vs_{reference}"] = {"only_reference": b, "only_this": c,
                                                  "mcnemar_p": float(f"{mcnemar_exact(b, c):.4g}")}
        rows.append(row)
    base = next((r for r in rows if r["arm"] == reference), None)
    for row in rows:
        if base and base["latency_p50_s"]:
            row["latency_p50_vs_unguarded"] = round(row["latency_p50_s"] / base["latency_p50_s"], 2)
    return rows


def markdown(rows: Sequence[dict[str, Any]], payload: dict[str, Any]) -> str:
    from gemmaiku.evaluate.report import md_table

    def show(rate: dict[str, Any]) -> str:
        low, high = rate["ci95"]
        return f"{100 * rate['rate']:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"

    table = md_table(
        ["arm", "n", "strict", "clean", "logprob/token", "p50 s", "p95 s", "p50 vs unguarded", "tokens/reply"],
        [[r["arm"], r["n"], show(r["strict"]), show(r["clean"]), r["mean_logprob_per_token"], r["latency_p50_s"],
          r["latency_p95_s"], r.get("latency_p50_vs_unguarded", ""), r["decoded_tokens_per_reply"]] for r in rows])
    return (f"# Decoding benchmark\n\n`{payload['command']}`\n\nmodel `{payload['model']}`, {payload['prompts']} "
            f"prompts x {payload['seeds']} seeds, {payload['threads']} threads, load average before "
            f"{payload['load_before']}, after {payload['load_after']}\n\n{table}\n")


def plot(rows: Sequence[dict[str, Any]]):
    from gemmaiku.evaluate.report import pyplot

    def draw(path: Path) -> None:
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
        names = [r["arm"] for r in rows]
        for offset, what in ((-0.2, "strict"), (0.2, "clean")):
            values = [100 * r[what]["rate"] for r in rows]
            errors = [[100 * (r[what]["rate"] - r[what]["ci95"][0]) for r in rows],
                      [100 * (r[what]["ci95"][1] - r[what]["rate"]) for r in rows]]
            left.bar([i + offset for i in range(len(rows))], values, 0.4, yerr=errors, label=what, capsize=3)
        left.set_xticks(range(len(rows)), names)
        left.set_ylabel("% of replies")
        left.legend()
        right.bar(names, [r["latency_p50_s"] for r in rows], label="p50")
        right.scatter(names, [r["latency_p95_s"] for r in rows], color="black", label="p95", zorder=3)
        right.set_ylabel("latency (s)")
        right.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    return draw


@click.command()
@click.argument("model")
@click.option("--arms", default="unguarded,meter,search-2,search-4,search-8", show_default=True,
              help="Comma-separated: unguarded, meter, search-K.")
@click.option("--seeds", type=click.IntRange(1), default=3, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=2, show_default=True)
@click.option("--limit", type=click.IntRange(1), help="Only the first N prompts of the suite.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/decoding"), show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary rows as JSON.")
def main(model: str, arms: str, seeds: int, threads: int, limit: int | None, out: Path, as_json: bool) -> None:
    """Strict and clean rates, model log-probability, latency and tokens of each decoding arm.

    \b
    Example:
      python -m gemmaiku.bench.decoding artifacts/Modelfile --threads 2 --seeds 3 --out reports/decoding
    """
    import shlex
    import sys

    from gemmaiku.evaluate.report import write_report

    names = [a.strip() for a in arms.split(",") if a.strip()]
    load_before = [round(x, 2) for x in os.getloadavg()]
    replies = run(model, names, seeds, threads, limit, progress=not as_json)
    rows = summarize(replies)
    payload = {"command": shlex.join(["python", "-m", "gemmaiku.bench.decoding", *sys.argv[1:]]), "model": model, "prompts": len({r.prompt_id for r in replies}),
               "seeds": seeds, "threads": threads, "load_before": load_before,
               "load_after": [round(x, 2) for x in os.getloadavg()], "arms": rows}
    write_report(out, payload, markdown(rows, payload), samples=[asdict(r) for r in replies],
                 figures={"decoding.png": plot(rows)})
    click.echo(json.dumps(rows, indent=2) if as_json else markdown(rows, payload))


if __name__ == "__main__":
    main()
