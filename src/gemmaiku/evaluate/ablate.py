"""`gemmaiku eval ablate`: the seed's claims as controlled comparisons, in one command.

Every arm runs the same prompts with the same seeds and options; only one thing changes per group
(:data:`ARMS`):

* system prompt: base + system prompt, fine-tuned + system prompt, fine-tuned without one;
* quantization: F16 vs Q8_0 vs Q5_K_M vs Q4_K_M of the same fused model (with the system prompt);
* guard: fine-tuned unguarded vs guarded generation (search decoding, N candidates per line).

Each arm reports the strict 5-7-5 rate and the clean rate (strict and no quality flag), each
compared with its group's first arm reply by reply. Arms whose model was not given are skipped
(and listed); identical arms run once. Models run one
after another, each unloaded before the next, so no two share the cores.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemmaiku.chat import DEFAULT_SYSTEM_PROMPT
from gemmaiku.evaluate.report import md_header, md_table, provenance, pyplot, write_report
from gemmaiku.evaluate.run import Outcome, progress_bar, run_single
from gemmaiku.evaluate.scoring import (
    Rate,
    Sample,
    clean_ok,
    clean_rate_of,
    form_ok,
    form_rate_of,
    group_rates,
    paired,
    rate_of,
)
from gemmaiku.evaluate.suite import Prompt
from gemmaiku.evaluate.targets import Target


@dataclass(frozen=True)
class Arm:
    group: str
    label: str
    model: str  # which --option names the model: base, tuned, f16, q8, q5, q4
    system: bool  # send the default system prompt
    guarded: bool = False


ARMS: tuple[Arm, ...] = (
    Arm("system prompt", "base + system prompt", "base", True),
    Arm("system prompt", "fine-tuned + system prompt", "tuned", True),
    Arm("system prompt", "fine-tuned, no system prompt", "tuned", False),
    Arm("quantization", "F16", "f16", True),
    Arm("quantization", "Q8_0", "q8", True),
    Arm("quantization", "Q5_K_M", "q5", True),
    Arm("quantization", "Q4_K_M", "q4", True),
    Arm("guard", "unguarded", "tuned", True),
    Arm("guard", "guarded", "tuned", True, guarded=True),
)


@dataclass
class ArmResult:
    arm: Arm
    spec: str
    target: dict[str, Any]
    outcome: Outcome


def plan(models: Mapping[str, str | None], guard: int) -> tuple[list[tuple[Arm, str]], list[str]]:
    """(arm, target spec) pairs to run, and the arms skipped for want of a model."""
    runs, skipped = [], []
    for arm in ARMS:
        spec = models.get(arm.model)
        if not spec or (arm.guarded and guard < 1):
            skipped.append(f"{arm.group}: {arm.label} (no --{arm.model})" if not spec
                           else f"{arm.group}: {arm.label} (--guard 0)")
            continue
        runs.append((arm, spec))
    return runs, skipped


def run_ablation(open_target: Callable[[str, int], Target], runs: Sequence[tuple[Arm, str]],
                 prompts: Sequence[Prompt], *, samples: int, seed: int, options: Mapping[str, Any],
                 guard: int, progress: bool = True) -> tuple[list[ArmResult], bool]:
    """Run each distinct (model, system, guard) once; arms sharing one reuse its samples."""
    done: dict[tuple[str, bool, int], tuple[dict[str, Any], Outcome]] = {}
    results: list[ArmResult] = []
    distinct = {(spec, arm.system, guard if arm.guarded else 0) for arm, spec in runs}
    with progress_bar(len(distinct) * len(prompts) * samples, "ablate", progress) as advance:
        for arm, spec in runs:
            key = (spec, arm.system, guard if arm.guarded else 0)
            if key not in done:
                target = open_target(spec, key[2])
                try:
                    outcome = run_single(target, prompts, samples=samples, seed=seed, options=options,
                                         system=DEFAULT_SYSTEM_PROMPT if arm.system else None, advance=advance)
                    done[key] = (target.describe(), outcome)
                finally:
                    target.close()
            info, outcome = done[key]
            results.append(ArmResult(arm, spec, info, outcome))
            if outcome.partial:
                return results, True
    return results, False


def arm_dict(r: ArmResult, reference: ArmResult | None = None) -> dict[str, Any]:
    samples: list[Sample] = r.outcome.samples
    versus = None
    if reference is not None and reference is not r:
        versus = {"arm": reference.arm.label, **paired(reference.outcome.samples, samples),
                  "form": paired(reference.outcome.samples, samples, form_ok),
                  "clean": paired(reference.outcome.samples, samples, clean_ok)}
    return {"versus": versus, "errors": r.outcome.errors, "group": r.arm.group, "label": r.arm.label, "spec": r.spec, "system": r.arm.system,
            "guarded": r.arm.guarded, "target": r.target, "overall": rate_of(samples).to_dict(),
            "form": form_rate_of(samples).to_dict(), "clean": clean_rate_of(samples).to_dict(),
            "categories": {c: x.to_dict() for c, x in group_rates(samples, lambda s: s.category).items()},
            "search_paths": _search_paths(samples)}


def _search_paths(samples: Sequence[Sample]) -> dict[str, int] | None:
    """How many replies each search-decoding path produced (search, widened, meter, closest)."""
    paths = [s.extra["search"]["path"] for s in samples if "search" in s.extra]
    return {p: paths.count(p) for p in sorted(set(paths))} if paths else None


def ablate_markdown(arms: Sequence[Mapping[str, Any]], skipped: Sequence[str]) -> str:
    lines = []
    for group in dict.fromkeys(a["group"] for a in arms):
        rows = [a for a in arms if a["group"] == group]
        cats = list(dict.fromkeys(c for a in rows for c in a["categories"]))
        table = [[a["label"], f"`{a['spec']}`", Rate(a["overall"]["passed"], a["overall"]["n"]).show(),
                  _versus(a["versus"]), Rate(a["clean"]["passed"], a["clean"]["n"]).show(),
                  _versus(a["versus"]["clean"]) if a["versus"] else "-", f"{100 * a['form']['rate']:.0f}%",
                  _versus(a["versus"]["form"]) if a["versus"] else "-",
                  *[f"{100 * a['categories'][c]['rate']:.0f}%" if c in a["categories"] else "-" for c in cats]]
                 for a in rows]
        lines += [f"## {group}", "",
                  md_table(["arm", "target", "strict 5-7-5 [95% CI]", "vs first arm (paired)", "clean [95% CI]",
                            "clean vs first arm", "form held", "form vs first arm", *cats],
                           table), ""]
        paths = [(a["label"], a.get("search_paths")) for a in rows if a.get("search_paths")]
        lines += [f"Search paths ({label}): " + ", ".join(f"{k} {v}" for k, v in p.items()) for label, p in paths]
        lines += [""] if paths else []
    if skipped:
        lines += ["## Skipped", "", *[f"- {s}" for s in skipped], ""]
    return "\n".join(lines)


def _versus(v: Mapping[str, Any] | None) -> str:
    """'+12.2 pts, 9 vs 2 discordant, McNemar p=0.065' against the group's first arm."""
    if not v:
        return "-"
    return (f"{100 * v['difference']:+.1f} pts ({v['only_this']} better / {v['only_reference']} worse "
            f"of {v['pairs']}, McNemar p={v['mcnemar_p']:.3g})")


def ablate_plot(arms: Sequence[Mapping[str, Any]]):
    def draw(path: Path) -> None:
        plt = pyplot()
        labels = [f"{a['group']}: {a['label']}" for a in arms]
        groups = list(dict.fromkeys(a["group"] for a in arms))
        colors = plt.get_cmap("tab10")
        fig, ax = plt.subplots(figsize=(8, 0.7 * len(arms) + 1.5))
        ys = range(len(arms))
        for offset, key, hatch in ((-0.2, "overall", ""), (0.2, "clean", "//")):
            rates = [a[key]["rate"] * 100 for a in arms]
            err = [[r - a[key]["ci95"][0] * 100 for r, a in zip(rates, arms, strict=True)],
                   [a[key]["ci95"][1] * 100 - r for r, a in zip(rates, arms, strict=True)]]
            ax.barh([y + offset for y in ys], rates, 0.4, xerr=err, capsize=3, hatch=hatch,
                    color=[colors(groups.index(a["group"])) for a in arms],
                    label="clean" if key == "clean" else "strict 5-7-5")
        ax.set_yticks(list(ys), labels)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.legend()
        ax.set_xlabel("replies (%), Wilson 95% CI")
        ax.set_title("Ablations")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    return draw


def write_ablation(out: Path, results: Sequence[ArmResult], skipped: Sequence[str], partial: bool,
                   settings: Mapping[str, Any]) -> dict[str, Any]:
    first: dict[str, ArmResult] = {}
    for r in results:
        first.setdefault(r.arm.group, r)
    arms = [arm_dict(r, first[r.arm.group]) for r in results]
    targets = list({r.spec: {**r.target, "label": r.spec} for r in results}.values())
    payload = {"kind": "ablate", "provenance": provenance(), "partial": partial, "targets": targets,
               "settings": dict(settings), "arms": arms, "skipped": list(skipped)}
    md = "\n".join([md_header("Ablations", payload),
                    "Same prompts, seeds and options in every arm; only the named factor changes. Each arm is "
                    "compared with its group's first arm reply by reply (same prompt, same seed): the "
                    "difference in strict 5-7-5 rate, the replies that passed only in this arm or only in the "
                    "first, and the exact McNemar test on them (p < 0.05: unlikely to be chance). The clean "
                    "columns do the same for clean replies (strict 5-7-5 and no quality flag: no line dangling "
                    "on a word such as \"the\", no fragment, non-word, meta-talk, echo or repeated line).", "",
                    ablate_markdown(arms, skipped), "## Settings", "", "```json",
                    json.dumps(settings, indent=2, ensure_ascii=False), "```"])
    samples = [{**s.to_dict(), "arm": r.arm.label, "group": r.arm.group} for r in results for s in r.outcome.samples]
    write_report(out, payload, md, samples=samples, figures={"ablations.png": ablate_plot(arms)} if arms else {})
    return payload
