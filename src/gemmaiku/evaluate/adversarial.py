"""`gemmaiku eval adversarial`: how often the form holds when prompts pull away from it.

Each prompt of the suite (and/or the corpus test split, or a user's file) is sent N times with
fixed seeds; each reply is judged by the strict validator (``check_haiku``: three lines of 5, 7
and 5 syllables and nothing else). The report gives the strict 5-7-5 rate overall and per
category with Wilson 95% intervals, the failure reasons counted, and the worst replies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gemmaiku.evaluate.report import md_header, md_table, provenance, pyplot, write_report
from gemmaiku.evaluate.run import Outcome, progress_bar, run_single
from gemmaiku.evaluate.scoring import Rate, Sample, summarize
from gemmaiku.evaluate.suite import SUITE_CATEGORIES, Prompt
from gemmaiku.evaluate.targets import Target

SHOWN_PROMPT = 160


def evaluate(target: Target, prompts: Sequence[Prompt], *, samples: int, seed: int,
             options: Mapping[str, Any], system: str | None, progress: bool = True,
             label: str = "adversarial") -> Outcome:
    with progress_bar(len(prompts) * samples, label, progress) as advance:
        return run_single(target, prompts, samples=samples, seed=seed, options=options, system=system,
                          advance=advance)


def settings_dict(*, samples: int, seed: int, options: Mapping[str, Any], system: str | None,
                  guard: int, prompts: Sequence[Prompt]) -> dict[str, Any]:
    sources: dict[str, int] = {}
    for p in prompts:
        sources[p.source] = sources.get(p.source, 0) + 1
    return {"samples_per_prompt": samples, "seeds": f"{seed}..{seed + samples - 1}", "options": dict(options),
            "system": system, "guard": guard, "prompts": len(prompts), "prompt_sources": sources}


def rate_cell(d: Mapping[str, Any]) -> str:
    return Rate(d["passed"], d["n"]).show()


def worst_markdown(worst: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for i, s in enumerate(worst, start=1):
        prompt = s["prompt"].replace("\n", " ")
        prompt = prompt if len(prompt) <= SHOWN_PROMPT else prompt[:SHOWN_PROMPT] + "..."
        reply = s["reply"].strip() or "(empty)"
        parts += [f"{i}. **{s['category']}** `{s['prompt_id']}` (seed {s['seed']}, distance {s['distance']}): "
                  f"{prompt}", "", "   ```text", *(f"   {line}" for line in reply.splitlines()[:12]), "   ```",
                  f"   Reasons: {'; '.join(s['reasons'][:4])}", ""]
    return "\n".join(parts)


def summary_markdown(summary: Mapping[str, Any]) -> str:
    rows = []
    for category, rate in summary["categories"].items():
        fails = summary["failures_by_category"].get(category, {})
        top = ", ".join(f"{code} {n}" for code, n in list(fails.items())[:3]) or "-"
        lenient = summary["lenient"]["categories"][category]
        form = summary["form"]["categories"][category]
        rows.append([category, SUITE_CATEGORIES.get(category, ""), rate_cell(rate), f"{100 * lenient['rate']:.0f}%",
                     f"{100 * form['rate']:.0f}%", top])
    failures = summary["failures"]
    n = summary["overall"]["n"]
    lines = [f"**Strict 5-7-5 overall: {rate_cell(summary['overall'])}** (Wilson 95% interval)", "",
             f"Lenient (a 5-7-5 haiku is there once chatter such as a preamble or title is stripped): "
             f"{rate_cell(summary['lenient']['overall'])}", "",
             f"Form held (three short lines, no prose or chatter; only syllable counts may be off): "
             f"{rate_cell(summary['form']['overall'])}", "",
             md_table(["category", "what it tries", "strict 5-7-5 [95% CI] (passed/n)", "lenient", "form held",
                       "top failures"], rows), "",
             "## Failure reasons", "",
             "A failing reply can have several reasons; shares are of all replies.", "",
             md_table(["reason", "replies", "share"],
                      [[code, count, f"{100 * count / n:.1f}%"] for code, count in failures.items()]) if failures
             else "No failures.", ""]
    if summary["worst"]:
        lines += ["## Worst replies", "", worst_markdown(summary["worst"])]
    return "\n".join(lines)


def category_plot(summary: Mapping[str, Any], title: str):
    def draw(path: Path) -> None:
        plt = pyplot()
        cats = list(summary["categories"])
        rates = [summary["categories"][c]["rate"] * 100 for c in cats]
        lows = [r - summary["categories"][c]["ci95"][0] * 100 for r, c in zip(rates, cats, strict=True)]
        highs = [summary["categories"][c]["ci95"][1] * 100 - r for r, c in zip(rates, cats, strict=True)]
        fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(cats) + 2), 4))
        ax.bar(cats, rates, yerr=[lows, highs], capsize=4, color="#4C72B0")
        ax.set_ylim(0, 100)
        ax.set_ylabel("strict 5-7-5 replies (%)")
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=35)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    return draw


def write_adversarial(out: Path, target_info: Sequence[Mapping[str, Any]], outcome: Outcome,
                      settings: Mapping[str, Any], *, worst_k: int = 5) -> dict[str, Any]:
    samples: list[Sample] = outcome.samples
    summary = summarize(samples, worst_k=worst_k)
    payload = {"kind": "adversarial", "provenance": provenance(), "partial": outcome.partial,
               "targets": list(target_info), "settings": dict(settings), "summary": summary,
               "errors": outcome.errors}
    notes = ["## Requests left out", "", *[f"- {e}" for e in outcome.errors], ""] if outcome.errors else []
    md = "\n".join([md_header("Adversarial evaluation", payload), summary_markdown(summary), *notes,
                    "## Settings", "", "```json", _json(settings), "```"])
    figures = {"categories.png": category_plot(summary, "Strict 5-7-5 by category (95% CI)")} if samples else {}
    write_report(out, payload, md, samples=[s.to_dict() for s in samples], figures=figures)
    return payload


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, ensure_ascii=False)
