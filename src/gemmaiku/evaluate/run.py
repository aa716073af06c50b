"""Running prompts against a target: fixed seeds, a progress bar, Ctrl-C keeps what finished.

Sample ``i`` of every prompt uses seed ``seed + i``, so a run is repeatable on one backend and the
same prompt sees the same seeds across targets and temperatures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gemmaiku.errors import GemmaikuError
from gemmaiku.evaluate.scoring import Sample, judge, judge_lenient
from gemmaiku.evaluate.suite import Prompt
from gemmaiku.evaluate.targets import Reply, Target
from gemmaiku.options import ollama_defaults, shipped_sampling

# What every evaluation sends unless told otherwise: the shipped Modelfile's sampling, Ollama's
# top_k and top_p (so every target samples alike), and a reply budget that fits a haiku with room
# to ramble.
DEFAULT_OPTIONS: dict[str, Any] = {**ollama_defaults(frozenset({"top_k", "top_p"})), **shipped_sampling(),
                                   "num_predict": 96}


MAX_ERRORS = 5  # failed requests tolerated before a run that mostly fails is stopped


@dataclass
class Outcome:
    samples: list[Sample]
    partial: bool = False
    errors: list[str] = field(default_factory=list)  # conversations cut short (context full...)


@contextlib.contextmanager
def progress_bar(total: int, label: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """The project's one progress display (gemmaiku.progress) for ``total`` requests; yields
    ``advance(n)``."""
    from gemmaiku.progress import progress_bars

    with progress_bars(enabled) as report:
        done = 0
        report(label, done, total)

        def advance(n: int = 1) -> None:
            nonlocal done
            done += n
            report(label, done, total)

        yield advance


def make_sample(prompt: Prompt, index: int, seed: int | None, reply: Reply, *,
                messages: Sequence[Mapping[str, str]] = (), **extra: Any) -> Sample:
    """The reply judged against what was sent: ``messages`` (the system text and the user turns)
    let the quality metric tell an echo or a name from the prompt."""
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    said = "\n".join(m["content"] for m in messages if m["role"] == "user") or prompt.text
    j = judge(reply.text, prompt=said, system=system)
    return Sample(prompt.id, prompt.category, prompt.text, index, seed, reply.text, j.ok, j.distance, j.codes,
                  j.reasons, reply.generated_tokens, reply.prompt_tokens, reply.finish_reason,
                  round(reply.ttft_s, 4), round(reply.total_s, 4), {**reply.extra, **extra},
                  lenient_ok=j.ok or judge_lenient(reply.text), clean=j.clean, flags=j.flags)


def sample_options(options: Mapping[str, Any], seed: int | None) -> dict[str, Any]:
    return {**options, "seed": seed} if seed is not None else dict(options)


def run_single(target: Target, prompts: Sequence[Prompt], *, samples: int, seed: int,
               options: Mapping[str, Any], system: str | None, advance: Callable[[int], None],
               extra: Mapping[str, Any] | None = None) -> Outcome:
    """Each prompt ``samples`` times (seeds seed, seed+1, ...), as one user turn.

    A request the target refuses (a prompt longer than its context, say) is left out and listed in
    ``errors``; if failures outnumber replies after :data:`MAX_ERRORS` of them, the run stops."""
    out: list[Sample] = []
    errors: list[str] = []
    try:
        for prompt in prompts:
            messages = prompt.with_system(system)
            for i in range(samples):
                try:
                    reply = target.generate(messages, sample_options(options, seed + i))
                except GemmaikuError as exc:
                    errors.append(f"{prompt.id} (seed {seed + i}) left out: {exc}")
                    if len(errors) >= MAX_ERRORS and len(errors) > len(out):
                        raise GemmaikuError(f"{len(errors)} of {len(errors) + len(out)} requests failed; "
                                            f"the first: {errors[0]}") from None
                    advance(1)
                    continue
                out.append(make_sample(prompt, i, seed + i, reply, messages=messages, **(extra or {})))
                advance(1)
    except KeyboardInterrupt:
        return Outcome(out, partial=True, errors=errors)
    return Outcome(out, errors=errors)


def conversation_chains(prompts: Sequence[Prompt], conversations: int, turns: int) -> list[list[Prompt]]:
    """``conversations`` chains of ``turns`` user prompts: chain c takes prompts c*turns, ...,
    wrapping around, so every turn brings a new request into a growing conversation."""
    pool = [p for p in prompts if len(p.messages) == 1 or p.messages[0]["role"] != "assistant"]
    if not pool:
        return []
    return [[pool[(c * turns + t) % len(pool)] for t in range(turns)] for c in range(conversations)]


def run_continuous(target: Target, chains: Sequence[Sequence[Prompt]], *, seed: int,
                   options: Mapping[str, Any], system: str | None, advance: Callable[[int], None],
                   extra: Mapping[str, Any] | None = None) -> Outcome:
    """Multi-turn conversations: the model's own replies stay in context; one sample per turn.
    Turn ``t`` of chain ``c`` uses seed ``seed + c``, plus ``t`` (distinct per turn)."""
    out: list[Sample] = []
    errors: list[str] = []
    try:
        for c, chain in enumerate(chains):
            messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
            for t, prompt in enumerate(chain):
                messages.append({"role": "user", "content": prompt.text})
                turn_seed = seed + 1000 * c + t
                try:
                    reply = target.generate(messages, sample_options(options, turn_seed))
                except GemmaikuError as exc:  # e.g. the conversation outgrew the context
                    errors.append(f"conversation {c} stopped at turn {t + 1}: {exc}")
                    advance(len(chain) - t)
                    break
                out.append(make_sample(prompt, c, turn_seed, reply, messages=messages, turn=t + 1, conversation=c,
                                       **(extra or {})))
                messages.append({"role": "assistant", "content": reply.text.strip() or "..."})
                advance(1)
    except KeyboardInterrupt:
        return Outcome(out, partial=True, errors=errors)
    return Outcome(out, errors=errors)
