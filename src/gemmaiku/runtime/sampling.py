"""Per-sequence samplers: llama.cpp sampler chains built from Ollama-named options.

Each sequence of a batch has its own chain (its own seed, penalty history and grammar state), so a
request samples the same tokens whatever else shares the batch. The chain's order is
llama-cpp-python's (``Llama.generate``): penalties, grammar, then greedy, mirostat, or
top-k -> typical -> top-p -> min-p -> temperature -> a seeded draw. Penalties see the prompt as
well as the generated tokens, as in Ollama's runner and llama-server (both accept every prompt
token into the chain's history before the first draw); the grammar sees generated tokens only.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from gemmaiku.runtime.options import GenerationOptions

MIROSTAT_M = 100  # llama.cpp's fixed candidate count for mirostat v1


def resolve_seed(options: GenerationOptions) -> int:
    """The request's seed, or a fresh random one when none (or -1) was given."""
    if options.seed is not None and options.seed >= 0:
        return int(options.seed)
    return random.getrandbits(32)


def derive_seed(seed: int, *parts: int) -> int:
    """A deterministic 32-bit seed for a sub-stream (a candidate of a line, say) of ``seed``."""
    value = seed & 0xFFFFFFFF
    for part in parts:
        value = (value * 1_000_003 + part + 0x9E3779B9) & 0xFFFFFFFF
    return value


def make_sampler(model: Any, options: GenerationOptions, seed: int, *, grammar: Any = None,
                 temperature: float | None = None, history: Sequence[int] = ()) -> Any:
    """A llama.cpp sampler chain (``llama_cpp._internals.LlamaSampler``) for one sequence.

    ``model`` is a ``llama_cpp._internals.LlamaModel``; ``grammar`` a compiled ``LlamaGrammar``;
    ``temperature`` overrides the option (search decoding widens with it); ``history`` are the
    tokens already in the sequence (the prompt, say), which the penalties count.
    """
    import llama_cpp
    from llama_cpp import _internals

    temp = options.temperature if temperature is None else temperature
    sampler = _internals.LlamaSampler()
    last_n = options.num_ctx if options.repeat_last_n < 0 else options.repeat_last_n
    sampler.add_penalties(
        n_vocab=model.n_vocab(),
        penalty_last_n=last_n,
        penalty_repeat=options.repeat_penalty,
        penalty_freq=options.frequency_penalty,
        penalty_present=options.presence_penalty,
    )
    penalties = llama_cpp.llama_sampler_chain_get(sampler.sampler, 0)
    # the penalties keep only the last ``last_n`` tokens: feeding more (a long prompt, for every
    # search candidate) would cost a call per token for nothing
    for token in history[len(history) - last_n:] if last_n > 0 else ():
        llama_cpp.llama_sampler_accept(penalties, token)
    if grammar is not None:
        sampler.add_grammar(model, grammar)
    if temp <= 0.0:
        sampler.add_greedy()
    elif options.mirostat == 1:
        sampler.add_mirostat(model.n_vocab(), seed, options.mirostat_tau, options.mirostat_eta, MIROSTAT_M)
    elif options.mirostat == 2:
        sampler.add_mirostat_v2(seed, options.mirostat_tau, options.mirostat_eta)
    else:
        sampler.add_top_k(options.top_k)
        sampler.add_typical(options.typical_p, 1)
        sampler.add_top_p(options.top_p, 1)
        sampler.add_min_p(options.min_p, 1)
        sampler.add_temp(temp)
        sampler.add_dist(seed)
    return sampler


def log_normalizer(logits: np.ndarray) -> float:
    """log(sum(exp(logits))), computed stably: logprob(token) = logits[token] - this."""
    top = float(logits.max())
    if not math.isfinite(top):
        return top
    return top + math.log(float(np.exp(logits - top, dtype=np.float32).sum()))
