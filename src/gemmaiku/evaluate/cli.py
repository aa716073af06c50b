"""`gemmaiku eval`: adversarial suite, temperature sweep and ablations, each writing a report folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gemmaiku.errors import GemmaikuError
from gemmaiku.evaluate.run import DEFAULT_OPTIONS


def _shared(func: Callable) -> Callable:
    """Options every eval verb takes (generation, sampling, output)."""
    options = [
        click.option("--samples", "-n", type=click.IntRange(1), default=None,
                     help="Samples per prompt (seeds SEED, SEED+1, ...)."),
        click.option("--seed", type=int, default=0, show_default=True, help="First seed."),
        click.option("--temperature", type=click.FloatRange(0, 5), default=DEFAULT_OPTIONS["temperature"],
                     show_default=True, help="Sampling temperature (the shipped Modelfile's)."),
        click.option("--num-predict", type=int, default=DEFAULT_OPTIONS["num_predict"], show_default=True,
                     help="Most tokens per reply (a haiku takes ~20)."),
        click.option("-o", "--option", "extra_options", multiple=True, metavar="NAME=VALUE",
                     help="Any other option in Ollama's names, repeatable: -o top_k=20."),
        click.option("--threads", type=int, help="llama.cpp threads for gguf: targets (default: all cores)."),
        click.option("--num-ctx", type=int, default=2048, show_default=True, help="Context for gguf: targets."),
        click.option("--api-key", envvar="GEMMAIKU_API_KEY",
                     help="Bearer token for HTTP targets (Open WebUI: a user's token or API key)."),
        click.option("--out", type=click.Path(path_type=Path), default=None,
                     help="Report folder (default reports/VERB)."),
        click.option("--json", "as_json", is_flag=True, help="Print report.json to stdout too."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _options(temperature: float, num_predict: int, extra: tuple[str, ...]) -> dict[str, Any]:
    from gemmaiku.runtime.cli import parse_option_pairs
    from gemmaiku.runtime.options import options_from

    values = {**DEFAULT_OPTIONS, "temperature": temperature, "num_predict": num_predict,
              **parse_option_pairs(extra)}
    options_from(values)  # validate: a bad value is one clear line now, not after loading a model
    return values


def _finish(out: Path, payload: dict[str, Any], as_json: bool, headline: str) -> None:
    if as_json:
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    partial = " (partial: interrupted)" if payload.get("partial") else ""
    click.echo(f"{headline}{partial}\nreport: {out}/report.md  {out}/report.json", err=as_json)
    if payload.get("partial"):
        raise SystemExit(130)


def _prompts(prompts_file: Path | None, include_test_split: bool, test_split_path: Path | None,
             categories: tuple[str, ...], per_category: int | None):
    from gemmaiku.evaluate import suite

    chosen = suite.load_prompts(prompts_file) if prompts_file else suite.builtin_suite(categories)
    if prompts_file and categories:
        chosen = [p for p in chosen if p.category in categories]
    chosen = suite.take(chosen, per_category)
    if include_test_split:
        chosen += suite.take(suite.test_split(test_split_path or suite.TEST_SPLIT), per_category)
    if not chosen:
        raise GemmaikuError("no prompts selected (check --category and --prompts)")
    return chosen


def _prompt_options(func: Callable) -> Callable:
    options = [
        click.option("--prompts", "prompts_file", type=click.Path(path_type=Path, dir_okay=False),
                     help="JSONL of {\"prompt\" or \"messages\", \"category\"} instead of the built-in suite."),
        click.option("--include-test-split", is_flag=True, help="Add the corpus test split (data/test.jsonl)."),
        click.option("--test-split", "test_split_path", type=click.Path(path_type=Path, dir_okay=False),
                     help="Another test split file."),
        click.option("--category", "categories", multiple=True, help="Only these categories (repeatable)."),
        click.option("--per-category", type=click.IntRange(1), default=None,
                     help="At most this many prompts per category."),
        click.option("--system", default="default", show_default=True,
                     help="System prompt: 'default' (Gemmaiku's), 'none', or the text itself."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group("eval")
def eval_group() -> None:
    """Measure 5-7-5 adherence: adversarial suite, temperature sweep, ablations.

    \b
    Targets: gguf:PATH.gguf | ollama:http://HOST:11434/MODEL | openai:http://HOST/v1/MODEL
    (Open WebUI: openai:http://HOST:8080/api/MODEL --api-key TOKEN).
    """


@eval_group.command()
@click.option("--target", "-t", "target_spec", required=True, help="What to evaluate (see `gemmaiku eval --help`).")
@_prompt_options
@click.option("--guard", type=click.IntRange(0), default=0, show_default=True,
              help="Guarded generation as serve --guard does it (gguf: targets; N candidates per line; 0: off).")
@click.option("--worst", "worst_k", type=click.IntRange(0), default=8, show_default=True, help="Worst replies shown.")
@_shared
def adversarial(target_spec: str, prompts_file: Path | None, include_test_split: bool, test_split_path: Path | None,
                categories: tuple[str, ...], per_category: int | None, system: str, guard: int, worst_k: int,
                samples: int | None, seed: int, temperature: float, num_predict: int, extra_options: tuple[str, ...],
                threads: int | None, num_ctx: int, api_key: str | None, out: Path | None, as_json: bool,
                quiet: bool) -> None:
    """Strict 5-7-5 and clean rates per category on adversarial prompts, with Wilson 95% intervals.

    \b
    Examples:
      gemmaiku eval adversarial -t gguf:artifacts/gemmaiku-270m-f16.gguf -n 3 --out reports/adversarial
      gemmaiku eval adversarial -t ollama:http://127.0.0.1:11434/gemmaiku --system none --include-test-split
      gemmaiku eval adversarial -t gguf:model.gguf --category jailbreak --per-category 5 --guard 4
    """
    from gemmaiku.evaluate.adversarial import evaluate, settings_dict, write_adversarial
    from gemmaiku.evaluate.suite import resolve_system
    from gemmaiku.evaluate.targets import open_target

    samples = samples or 3
    options = _options(temperature, num_predict, extra_options)
    prompts = _prompts(prompts_file, include_test_split, test_split_path, categories, per_category)
    system_text = resolve_system(system)
    out = out or Path("reports/adversarial")
    target = open_target(target_spec, guard=guard, threads=threads, num_ctx=num_ctx, api_key=api_key)
    try:
        info = target.describe()
        outcome = evaluate(target, prompts, samples=samples, seed=seed, options=options, system=system_text,
                           progress=not quiet)
    finally:
        target.close()
    settings = settings_dict(samples=samples, seed=seed, options=options, system=system_text, guard=guard,
                             prompts=prompts)
    payload = write_adversarial(out, [info], outcome, settings, worst_k=worst_k)
    summary = payload["summary"]
    _finish(out, payload, as_json, f"strict 5-7-5: {_rate(summary['overall'])}; clean: {_rate(summary['clean']['overall'])}")


@eval_group.command()
@click.option("--target", "-t", "target_spec", required=True, help="What to evaluate.")
@_prompt_options
@click.option("--temperatures", default="0:1.6:0.2", show_default=True,
              help="START:STOP:STEP (stop included) or a list 0,0.4,0.8.")
@click.option("--mode", type=click.Choice(["single", "continuous", "both"]), default="both", show_default=True)
@click.option("--turns", type=click.IntRange(1), default=4, show_default=True, help="Turns per conversation (continuous).")
@click.option("--conversations", type=click.IntRange(1), default=4, show_default=True,
              help="Conversations per temperature (continuous).")
@_shared
def sweep(target_spec: str, prompts_file: Path | None, include_test_split: bool, test_split_path: Path | None,
          categories: tuple[str, ...], per_category: int | None, system: str, temperatures: str, mode: str,
          turns: int, conversations: int, samples: int | None, seed: int, temperature: float, num_predict: int,
          extra_options: tuple[str, ...], threads: int | None, num_ctx: int, api_key: str | None,
          out: Path | None, as_json: bool, quiet: bool) -> None:
    """Adherence against temperature, one-turn and in continuous multi-turn generation.

    \b
    Examples:
      gemmaiku eval sweep -t gguf:artifacts/gemmaiku-270m-f16.gguf --per-category 2 --out reports/sweep
      gemmaiku eval sweep -t gguf:model.gguf --mode continuous --turns 6 --conversations 8 --temperatures 0.2,0.8,1.4
    """
    from gemmaiku.evaluate.suite import resolve_system
    from gemmaiku.evaluate.sweep import parse_temperatures, run_sweep, write_sweep
    from gemmaiku.evaluate.targets import open_target

    temps = parse_temperatures(temperatures)
    samples = samples or 1
    options = _options(temperature, num_predict, extra_options)
    prompts = _prompts(prompts_file, include_test_split, test_split_path, categories, per_category or 2)
    system_text = resolve_system(system)
    modes = ("single", "continuous") if mode == "both" else (mode,)
    out = out or Path("reports/sweep")
    target = open_target(target_spec, threads=threads, num_ctx=num_ctx, api_key=api_key)
    try:
        info = target.describe()
        outcome = run_sweep(target, prompts, temperatures=temps, modes=modes, samples=samples,
                            conversations=conversations, turns=turns, seed=seed, options=options,
                            system=system_text, progress=not quiet)
    finally:
        target.close()
    settings = {"temperatures": temps, "modes": list(modes), "samples_per_prompt": samples, "seed": seed,
                "turns": turns, "conversations": conversations, "prompts": len(prompts),
                "options": {k: v for k, v in options.items() if k != "temperature"}, "system": system_text}
    payload = write_sweep(out, [info], outcome, settings)
    best = ", ".join(f"{m}: {100 * payload['summary'][m]['overall']['rate']:.1f}% strict, "
                     f"{100 * payload['summary'][m]['clean_overall']['rate']:.1f}% clean overall"
                     for m in modes if m in payload["summary"])
    _finish(out, payload, as_json, f"sweep over {len(temps)} temperatures ({best})")


@eval_group.command()
@click.option("--base", help="The base model (target spec or GGUF path), run with the system prompt.")
@click.option("--tuned", help="The fine-tuned model for the system-prompt and guard arms (default: --f16, else --q8, else --q4).")
@click.option("--f16", help="F16 GGUF of the fused model.")
@click.option("--q8", help="Q8_0 GGUF of the same fused model.")
@click.option("--q5", help="Q5_K_M GGUF of the same fused model (optional).")
@click.option("--q4", help="Q4_K_M GGUF of the same fused model.")
@click.option("--guard", type=click.IntRange(0), default=4, show_default=True, help="Candidates per line in the guarded arm (0: skip it).")
@click.option("--category", "categories", multiple=True, help="Only these suite categories.")
@click.option("--per-category", type=click.IntRange(1), default=5, show_default=True, help="Suite prompts per category.")
@click.option("--include-test-split", is_flag=True, help="Add the corpus test split.")
@click.option("--prompts", "prompts_file", type=click.Path(path_type=Path, dir_okay=False), help="Own prompt JSONL.")
@_shared
def ablate(base: str | None, tuned: str | None, f16: str | None, q8: str | None, q5: str | None, q4: str | None,
           guard: int,
           categories: tuple[str, ...], per_category: int, include_test_split: bool, prompts_file: Path | None,
           samples: int | None, seed: int, temperature: float, num_predict: int, extra_options: tuple[str, ...],
           threads: int | None, num_ctx: int, api_key: str | None, out: Path | None, as_json: bool,
           quiet: bool) -> None:
    """Base vs fine-tuned, system prompt or not, F16 vs Q8_0 (vs Q5_K_M) vs Q4_K_M, guarded vs not.

    Give the models you have; arms without one are skipped. Same prompts and seeds in every arm.

    \b
    Example:
      gemmaiku eval ablate --base gemma3-270m-f16.gguf --f16 artifacts/gemmaiku-270m-f16.gguf \\
        --q8 artifacts/gemmaiku-270m-q8_0.gguf --q4 artifacts/gemmaiku-270m-q4_k_m.gguf -n 2 --out reports/ablate
    """
    from gemmaiku.evaluate.ablate import plan, run_ablation, write_ablation
    from gemmaiku.evaluate.targets import open_target

    models = {"base": base, "tuned": tuned or f16 or q8 or q5 or q4, "f16": f16, "q8": q8, "q5": q5, "q4": q4}
    models = {k: _as_spec(v) for k, v in models.items()}
    if not any(models.values()):
        raise GemmaikuError("give at least one model (--base, --tuned, --f16, --q8, --q5 or --q4)")
    samples = samples or 2
    options = _options(temperature, num_predict, extra_options)
    prompts = _prompts(prompts_file, include_test_split, None, categories, per_category)
    runs, skipped = plan(models, guard)
    out = out or Path("reports/ablate")
    for _, spec in runs:  # parse every spec before spending minutes on the first arm
        open_target(spec, threads=threads, num_ctx=num_ctx, api_key=api_key).close()

    def opener(spec: str, attempts: int):
        return open_target(spec, guard=attempts, threads=threads, num_ctx=num_ctx, api_key=api_key)

    results, partial = run_ablation(opener, runs, prompts, samples=samples, seed=seed, options=options,
                                    guard=guard, progress=not quiet)
    settings = {"samples_per_prompt": samples, "seed": seed, "options": options, "guard": guard,
                "prompts": len(prompts), "per_category": per_category, "models": models}
    payload = write_ablation(out, results, skipped, partial, settings)
    line = "; ".join(f"{a['label']}: {100 * a['overall']['rate']:.1f}% strict, {100 * a['clean']['rate']:.1f}% clean"
                     for a in payload["arms"])
    _finish(out, payload, as_json, line or "no arms ran")


@eval_group.command()
@click.argument("report_a", type=click.Path(path_type=Path))
@click.argument("report_b", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(report_a: Path, report_b: Path, as_json: bool) -> None:
    """Paired comparison of two reports on the same prompts and seeds (strict, clean; McNemar).

    \b
    Example:
      gemmaiku eval compare reports/shipped-adversarial reports/candidate-adversarial
    """
    from gemmaiku.evaluate.compare import compare as compare_reports
    from gemmaiku.evaluate.compare import markdown, read_samples

    result = compare_reports(read_samples(report_a), read_samples(report_b))
    click.echo(json.dumps(result, indent=2) if as_json else markdown(result, str(report_a), str(report_b)))


def _rate(rate: dict[str, Any]) -> str:
    """'6/24 = 25.0% (95% CI 12.0-44.9)'."""
    low, high = rate["ci95"]
    return f"{rate['passed']}/{rate['n']} = {100 * rate['rate']:.1f}% (95% CI {100 * low:.1f}-{100 * high:.1f})"


def _as_spec(value: str | None) -> str | None:
    """A bare path means a GGUF in process."""
    if not value:
        return None
    return value if ":" in value.split("/")[0] else f"gguf:{value}"
