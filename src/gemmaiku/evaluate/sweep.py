"""`gemmaiku eval sweep`: 5-7-5 adherence against sampling temperature.

Two modes, both by default:

* ``single``: each prompt as a fresh one-turn chat, N samples per temperature;
* ``continuous``: C conversations of K turns each, a new suite prompt every turn, the model's own
  replies kept in context ("continuous generation"); adherence per turn index and per temperature.

The same prompts, seeds and conversations are used at every temperature, so the curves differ
only by temperature. Every strict 5-7-5 rate comes with the clean rate (strict and no quality
flag) beside it, and the paired comparisons cover both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gemmaiku.errors import GemmaikuError
from gemmaiku.evaluate.report import md_header, md_table, provenance, pyplot, write_report
from gemmaiku.evaluate.run import (
    Outcome,
    conversation_chains,
    progress_bar,
    run_continuous,
    run_single,
)
from gemmaiku.evaluate.scoring import (
    Rate,
    Sample,
    clean_ok,
    clean_rate_of,
    failure_counts,
    form_rate_of,
    group_clean_rates,
    group_rates,
    paired,
    rate_of,
)
from gemmaiku.evaluate.suite import Prompt
from gemmaiku.evaluate.targets import Target

MODES = ("single", "continuous")
REFERENCE_T = 0.8  # the seed's threshold: rates at other temperatures are compared with this one


def parse_temperatures(text: str) -> list[float]:
    """'0:1.6:0.2' (start:stop:step, stop included) or '0,0.4,0.8'."""
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            count = int(round((stop - start) / step)) + 1
            values = [round(start + i * step, 4) for i in range(count)]
        else:
            values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise GemmaikuError(f"bad --temperatures {text!r} (write START:STOP:STEP like 0:1.6:0.2, or 0,0.4,0.8)") from None
    if not values or any(not 0 <= v <= 5 for v in values):
        raise GemmaikuError(f"bad --temperatures {text!r}: temperatures must lie in [0, 5]")
    return values


def run_sweep(target: Target, prompts: Sequence[Prompt], *, temperatures: Sequence[float], modes: Sequence[str],
              samples: int, conversations: int, turns: int, seed: int, options: Mapping[str, Any],
              system: str | None, progress: bool = True) -> Outcome:
    chains = conversation_chains([p for p in prompts if p.category != "long_input"], conversations, turns)
    per_t = (len(prompts) * samples if "single" in modes else 0) + (len(chains) * turns if "continuous" in modes else 0)
    samples_out: list[Sample] = []
    errors: list[str] = []
    with progress_bar(per_t * len(temperatures), "sweep", progress) as advance:
        for temperature in temperatures:
            opts = {**options, "temperature": temperature}
            steps = []
            if "single" in modes:
                steps.append(lambda o=opts, t=temperature: run_single(
                    target, prompts, samples=samples, seed=seed, options=o, system=system, advance=advance,
                    extra={"mode": "single", "temperature": t}))
            if "continuous" in modes:
                steps.append(lambda o=opts, t=temperature: run_continuous(
                    target, chains, seed=seed, options=o, system=system, advance=advance,
                    extra={"mode": "continuous", "temperature": t}))
            for step in steps:
                outcome = step()
                samples_out += outcome.samples
                errors += [f"T={temperature}: {e}" for e in outcome.errors]
                if outcome.partial:
                    return Outcome(samples_out, True, errors)
    return Outcome(samples_out, False, errors)


def sweep_summary(samples: Sequence[Sample]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in MODES:
        chosen = [s for s in samples if s.extra.get("mode") == mode]
        if not chosen:
            continue
        by_t = group_rates(chosen, lambda s: s.extra["temperature"])
        entry: dict[str, Any] = {
            "by_temperature": {str(t): r.to_dict() for t, r in by_t.items()},
            "form_by_temperature": {
                str(t): form_rate_of([s for s in chosen if s.extra["temperature"] == t]).to_dict() for t in by_t},
            "failures_by_temperature": {
                str(t): failure_counts([s for s in chosen if s.extra["temperature"] == t]) for t in by_t},
            "clean_by_temperature": {
                str(t): r.to_dict() for t, r in group_clean_rates(chosen, lambda s: s.extra["temperature"]).items()},
            "overall": rate_of(chosen).to_dict(),
            "clean_overall": clean_rate_of(chosen).to_dict(),
        }
        temps = list(by_t)
        ref = REFERENCE_T if REFERENCE_T in temps else temps[0]
        at = {t: [s for s in chosen if s.extra["temperature"] == t] for t in temps}
        entry["reference_temperature"] = ref
        entry["versus_reference"] = {str(t): paired(at[ref], at[t]) for t in temps if t != ref}
        entry["clean_versus_reference"] = {str(t): paired(at[ref], at[t], clean_ok) for t in temps if t != ref}
        if mode == "continuous":
            entry["by_temperature_and_turn"] = {
                str(t): {str(k): r.to_dict() for k, r in sorted(group_rates(
                    [s for s in chosen if s.extra["temperature"] == t], lambda s: s.extra["turn"]).items())}
                for t in by_t
            }
            entry["by_turn"] = {str(k): r.to_dict() for k, r in sorted(group_rates(chosen, lambda s: s.extra["turn"]).items())}
            turns = sorted({s.extra["turn"] for s in chosen})
            entry["form_by_turn"] = {str(k): form_rate_of([s for s in chosen if s.extra["turn"] == k]).to_dict()
                                     for k in turns}
            entry["clean_by_turn"] = {str(k): r.to_dict() for k, r in sorted(
                group_clean_rates(chosen, lambda s: s.extra["turn"]).items())}
        out[mode] = entry
    return out


def _cell(d: Mapping[str, Any]) -> str:
    return Rate(d["passed"], d["n"]).show()


def sweep_markdown(summary: Mapping[str, Any]) -> str:
    lines = []
    modes = [m for m in MODES if m in summary]
    temps = list(dict.fromkeys(t for m in modes for t in summary[m]["by_temperature"]))
    header = ["temperature", *[h for m in modes for h in (f"{m}: strict 5-7-5 [95% CI]",
                                                           f"{m}: vs T={summary[m]['reference_temperature']}",
                                                           f"{m}: clean [95% CI]",
                                                           f"{m}: clean vs T={summary[m]['reference_temperature']}",
                                                           f"{m}: form held")]]
    rows = [[t, *[cell for m in modes for cell in (
        _cell(summary[m]["by_temperature"][t]) if t in summary[m]["by_temperature"] else "-",
        _versus(summary[m]["versus_reference"].get(t)),
        _cell(summary[m]["clean_by_temperature"][t]) if t in summary[m].get("clean_by_temperature", {}) else "-",
        _versus(summary[m].get("clean_versus_reference", {}).get(t)),
        f"{100 * summary[m]['form_by_temperature'][t]['rate']:.0f}%" if t in summary[m]["form_by_temperature"]
        else "-")]] for t in temps]
    lines += ["## Adherence by temperature", "",
              "The 'vs' columns compare each temperature with the reference reply by reply (same prompts and "
              "seeds): the difference in points, replies that passed only at this temperature / only at the "
              "reference, and the exact McNemar p-value. 'Clean': strict 5-7-5 and no quality flag (no line "
              "dangling on a word such as \"the\", no fragment, non-word, meta-talk, echo or repeated line). "
              "'Form held': three short lines, no prose or chatter, syllable counts aside.", "",
              md_table(header, rows), ""]
    if "continuous" in summary:
        cont = summary["continuous"]
        turns = list(cont["by_turn"])
        rows = [[t, *[f"{100 * cont['by_temperature_and_turn'][t][k]['rate']:.0f}% (n={cont['by_temperature_and_turn'][t][k]['n']})"
                      if k in cont["by_temperature_and_turn"][t] else "-" for k in turns]]
                for t in cont["by_temperature_and_turn"]]
        rows.append(["all", *[_cell(cont["by_turn"][k]) for k in turns]])
        rows.append(["all, clean", *[_cell(cont["clean_by_turn"][k]) for k in turns]])
        rows.append(["all, form held", *[_cell(cont["form_by_turn"][k]) for k in turns]])
        lines += ["## Continuous generation: adherence per turn", "",
                  "Each row is one temperature; each column a turn index of the conversation (the model's "
                  "earlier replies stay in context).", "",
                  md_table(["temperature", *[f"turn {k}" for k in turns]], rows), ""]
    for m in modes:
        rows = [[t, ", ".join(f"{c} {n}" for c, n in list(f.items())[:4]) or "-"]
                for t, f in summary[m]["failures_by_temperature"].items()]
        lines += [f"## Failure reasons ({m})", "", md_table(["temperature", "reasons (replies)"], rows), ""]
    return "\n".join(lines)


def _versus(v: Mapping[str, Any] | None) -> str:
    if not v:
        return "reference"
    return f"{100 * v['difference']:+.1f} pts ({v['only_this']}/{v['only_reference']}, p={v['mcnemar_p']:.3g})"


def sweep_plots(summary: Mapping[str, Any]) -> dict[str, Any]:
    def temperature_plot(path: Path) -> None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4))
        for mode, color in zip(MODES, ("#4C72B0", "#DD8452"), strict=True):
            if mode not in summary:
                continue
            rows = summary[mode]["by_temperature"]
            xs = [float(t) for t in rows]
            ys = [rows[t]["rate"] * 100 for t in rows]
            lo = [rows[t]["ci95"][0] * 100 for t in rows]
            hi = [rows[t]["ci95"][1] * 100 for t in rows]
            ax.plot(xs, ys, marker="o", color=color, label=f"{mode}: strict 5-7-5")
            ax.fill_between(xs, lo, hi, color=color, alpha=0.2)
            clean = summary[mode]["clean_by_temperature"]
            ax.plot(xs, [clean[t]["rate"] * 100 for t in rows], marker="s", linestyle="--", color=color,
                    label=f"{mode}: clean")
        ax.axvline(0.8, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("temperature")
        ax.set_ylabel("replies (%)")
        ax.set_ylim(0, 100)
        ax.set_title("Adherence vs temperature (bands: Wilson 95% CI of strict)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    def turn_plot(path: Path) -> None:
        plt = pyplot()
        cont = summary["continuous"]["by_temperature_and_turn"]
        fig, ax = plt.subplots(figsize=(7, 4))
        cmap = plt.get_cmap("viridis")
        for i, (t, rows) in enumerate(cont.items()):
            ax.plot([int(k) for k in rows], [rows[k]["rate"] * 100 for k in rows], marker="o",
                    color=cmap(i / max(1, len(cont) - 1)), label=f"T={t}")
        ax.set_xlabel("turn of the conversation")
        ax.set_ylabel("strict 5-7-5 replies (%)")
        ax.set_ylim(0, 100)
        ax.set_title("Continuous generation: adherence per turn")
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    figures: dict[str, Any] = {"temperature.png": temperature_plot}
    if "continuous" in summary:
        figures["turns.png"] = turn_plot
    return figures


def write_sweep(out: Path, target_info: Sequence[Mapping[str, Any]], outcome: Outcome,
                settings: Mapping[str, Any]) -> dict[str, Any]:
    summary = sweep_summary(outcome.samples)
    payload = {"kind": "sweep", "provenance": provenance(), "partial": outcome.partial,
               "targets": list(target_info), "settings": dict(settings), "summary": summary,
               "errors": outcome.errors}
    notes = ["## Notes", "", *[f"- {e}" for e in outcome.errors], ""] if outcome.errors else []
    import json

    md = "\n".join([md_header("Temperature sweep", payload), sweep_markdown(summary), *notes,
                    "## Settings", "", "```json", json.dumps(settings, indent=2, ensure_ascii=False), "```"])
    write_report(out, payload, md, samples=[s.to_dict() for s in outcome.samples],
                 figures=sweep_plots(summary) if outcome.samples else {})
    return payload
