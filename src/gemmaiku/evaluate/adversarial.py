"""`gemmaiku eval adversarial`: how often the form holds when prompts pull away from it.

Each prompt of the suite (and/or the corpus test split, or a user's file) is sent N times with
fixed seeds; each reply is judged by the strict validator (``check_haiku``: three lines of 5, 7
and 5 syllables and nothing else) and the quality metric (clean: strict and no flag such as a line
dangling on "the"). The report gives the strict and clean rates overall and per category with
Wilson 95% intervals, the failure reasons and quality flags counted, the worst replies and the
strict replies that are not clean.
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


def flags_line(flags: Sequence[Mapping[str, Any]], limit: int = 4) -> str:
    """'line 1 dangling_end "the"; line 3 fragment "al"' for reports."""
    def where(flag: Mapping[str, Any]) -> str:
        return "reply" if flag["line"] is None else f"line {flag['line'] + 1}"

    return "; ".join(f'{where(f)} {f["kind"]} "{f["text"]}"' for f in flags[:limit])


def unclean_markdown(unclean: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for i, s in enumerate(unclean, start=1):
        parts += [f"{i}. **{s['category']}** `{s['prompt_id']}` (seed {s['seed']}):", "", "   ```text",
                  *(f"   {line}" for line in s["reply"].strip().splitlines()[:6]), "   ```",
                  f"   Flags: {flags_line(s.get('flags', []))}", ""]
    return "\n".join(parts)


def flags_markdown(summary: Mapping[str, Any]) -> str:
    """The quality flags counted over all replies and over the strict ones."""
    clean = summary["clean"]
    n = summary["overall"]["n"]
    strict = summary["overall"]["passed"]
    kinds = list(dict.fromkeys([*clean["flags"], *clean["flags_on_strict"]]))
    if not kinds:
        return "No quality flags."
    rows = [[kind, clean["flags"].get(kind, 0), f"{100 * clean['flags'].get(kind, 0) / n:.1f}%" if n else "-",
             clean["flags_on_strict"].get(kind, 0),
             f"{100 * clean['flags_on_strict'].get(kind, 0) / strict:.1f}%" if strict else "-"] for kind in kinds]
    return md_table(["flag", "replies", "share of all", "strict replies", "share of strict"], rows)


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
        clean = summary["clean"]["categories"][category]
        rows.append([category, SUITE_CATEGORIES.get(category, ""), rate_cell(rate), rate_cell(clean),
                     f"{100 * lenient['rate']:.0f}%", f"{100 * form['rate']:.0f}%", top])
    failures = summary["failures"]
    n = summary["overall"]["n"]
    lines = [f"**Strict 5-7-5 overall: {rate_cell(summary['overall'])}** (Wilson 95% interval)", "",
             f"**Clean overall: {rate_cell(summary['clean']['overall'])}** (strict 5-7-5 and no quality flag: "
             f"no line dangling on a word such as \"the\" or \"and\", no fragment or non-word, no meta-talk, "
             f"echo or repeated line)", "",
             f"Lenient (a 5-7-5 haiku is there once chatter such as a preamble or title is stripped): "
             f"{rate_cell(summary['lenient']['overall'])}", "",
             f"Form held (three short lines, no prose or chatter; only syllable counts may be off): "
             f"{rate_cell(summary['form']['overall'])}", "",
             md_table(["category", "what it tries", "strict 5-7-5 [95% CI] (passed/n)", "clean [95% CI] (passed/n)",
                       "lenient", "form held", "top failures"], rows), "",
             "## Failure reasons", "",
             "A failing reply can have several reasons; shares are of all replies.", "",
             md_table(["reason", "replies", "share"],
                      [[code, count, f"{100 * count / n:.1f}%"] for code, count in failures.items()]) if failures
             else "No failures.", "",
             "## Quality flags", "",
             "A reply can have several kinds of flag; each kind is counted once per reply.", "",
             flags_markdown(summary), ""]
    if summary.get("unclean"):
        lines += ["## Strict but not clean", "", unclean_markdown(summary["unclean"])]
    if summary["worst"]:
        lines += ["## Worst replies", "", worst_markdown(summary["worst"])]
    return "\n".join(lines)


def category_plot(summary: Mapping[str, Any], title: str):
    def draw(path: Path) -> None:
        plt = pyplot()
        cats = list(summary["categories"])
        fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(cats) + 2), 4))
        xs = range(len(cats))
        width = 0.4
        for offset, table, name, color in ((-width / 2, summary["categories"], "strict 5-7-5", "#4C72B0"),
                                           (width / 2, summary["clean"]["categories"], "clean", "#55A868")):
            rates = [table[c]["rate"] * 100 for c in cats]
            lows = [r - table[c]["ci95"][0] * 100 for r, c in zip(rates, cats, strict=True)]
            highs = [table[c]["ci95"][1] * 100 - r for r, c in zip(rates, cats, strict=True)]
            ax.bar([x + offset for x in xs], rates, width, yerr=[lows, highs], capsize=3, color=color, label=name)
        ax.set_xticks(list(xs), cats)
        ax.set_ylim(0, 100)
        ax.set_ylabel("replies (%)")
        ax.legend()
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
    figures = {"categories.png": category_plot(summary, "Strict 5-7-5 and clean by category (95% CI)")} if samples else {}
    write_report(out, payload, md, samples=[s.to_dict() for s in samples], figures=figures)
    return payload


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, ensure_ascii=False)
