"""Search decoding: each line of the haiku chosen among candidates by the model's own judgement.

Metered decoding alone (runtime.meter) buys the 5-7-5 count by breaking a line the moment a word
reaches its target, even after "the" or "and". Search decoding keeps the count and asks the model
where a line may end. For every line:

1. the shared prefix (the prompt and the lines chosen so far) is evaluated once; K candidate
   sequences fork from it (``llama_memory_seq_cp``: no re-evaluation) and are decoded together,
   one batch per step, each under the meter and with its own seed;
2. each candidate that reaches its syllable target exactly is scored by the log-probability the
   *unconstrained* model gives to its tokens **plus to the line break** (or ``<end_of_turn>``
   after the third line) at that point, which is low after "the" or "and";
3. candidates whose line dangles on a closed-class word or ends on a fragment are dropped
   (gemmaiku.prosody.quality); the best of the rest is streamed at once and becomes the prefix.

When no candidate qualifies, the line is searched again with more candidates at a higher
temperature ("widened"); failing that, the best-scoring candidate with the exact count is taken
("meter", today's metered choice), and failing that the nearest ("closest"). The final chunk
says which path produced each line, with scores and counts (``extra["search"]``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from gemmaiku.runtime.batch import Feed, Step
from gemmaiku.runtime.engine import ChunkJob, Engine, StopMatcher, Utf8Decoder
from gemmaiku.runtime.generator import Chunk, Messages, Result, collect
from gemmaiku.runtime.meter import HAIKU_METER, Meter, line_counts, vocab_info
from gemmaiku.runtime.options import GenerationOptions
from gemmaiku.runtime.sampling import derive_seed, log_normalizer, make_sampler, resolve_seed

GREEDY_SPREAD_TEMPERATURE = 0.7  # at temperature 0 the first candidate is greedy, the rest use this
MIN_SEARCH_TOKENS = 24  # with a smaller num_predict there is no room for a haiku: plain metered decoding

# Why a line may not be chosen: (the lines chosen before, the line, is it the last) -> its flags.
LineFilter = Callable[[Sequence[str], str, bool], Sequence[str]]
# A sampler chain for one candidate: (options, seed, temperature, history) -> sampler, where
# history is every token before the candidate's first (prompt and lines chosen), for the penalties.
SamplerFactory = Callable[[GenerationOptions, int, float, Sequence[int]], Any]


@dataclass(frozen=True)
class SearchSettings:
    """How hard to search. ``candidates`` per line first; ``widen_candidates`` at
    ``widen_temperature`` when none qualifies."""

    candidates: int = 4
    widen_candidates: int = 8
    widen_temperature: float = 1.0
    max_line_tokens: int = 24
    meter: tuple[int, ...] = HAIKU_METER

    @property
    def sequences(self) -> int:
        """Sequence ids a request holds: the prefix, the widest round's candidates, and the first
        round's best fallback kept while widening."""
        return 1 + max(self.candidates, self.widen_candidates) + (1 if self.widen_candidates else 0)


WHOLE_REPLY_KINDS = ("meta_talk", "echo", "repeated_line")  # flags that need the lines before


def quality_filter(prompt: str, system: str = "") -> LineFilter:
    """The quality metric's flags of a candidate line (gemmaiku.prosody.quality): dangling end,
    fragment and non-words of the line itself; given the lines chosen before it, a break the
    candidate would leave hanging ("a red / pigeon": the previous line waits for its noun),
    meta-talk, echo and repetition; and the prompt and system text."""
    from gemmaiku.prosody.quality import break_flags, context_words, line_flags, quality_flags

    known = context_words(prompt, system)

    def flags(before: Sequence[str], line: str, last: bool) -> list[str]:
        kinds = [flag.kind for flag in line_flags(line, context_words=known, last=last)]
        if before:
            kinds += [flag.kind for flag in break_flags(before[-1], line)]
        partial = "\n".join([*before, line])
        kinds += [flag.kind for flag in quality_flags(partial, prompt=prompt, system=system)
                  if flag.line == len(before) and flag.kind in WHOLE_REPLY_KINDS]
        return kinds

    return flags


@dataclass
class Candidate:
    """One candidate line, decoded on its own sequence."""

    seq: int
    sampler: Any
    tokens: list[int] = field(default_factory=list)  # the line's tokens (the break not included)
    pieces: list[str] = field(default_factory=list)
    logprob: float = 0.0  # of the line's tokens under the unconstrained model
    break_token: int | None = None
    break_logprob: float = -math.inf
    failed: str | None = None  # "overshoot", "too long"
    exact: bool = False  # ended with the line's syllable target exactly
    flags: list[str] = field(default_factory=list)  # quality flags of the finished line
    decoder: Utf8Decoder = field(default_factory=Utf8Decoder)

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def running(self) -> bool:
        return self.break_token is None and self.failed is None

    @property
    def score(self) -> float:
        return self.logprob + self.break_logprob

    def summary(self) -> dict[str, Any]:
        return {"line": self.text.strip(), "score": round(self.score, 4) if self.break_token is not None else None,
                "exact": self.exact, "flags": self.flags, "failed": self.failed}


class SearchJob(ChunkJob):
    """A haiku reply decoded line by line by candidate search (see the module doc)."""

    def __init__(self, runtime: Any, tokens: list[int], options: GenerationOptions, settings: SearchSettings,
                 line_filter: LineFilter, *, meter: Meter, new_sampler: SamplerFactory,
                 load_s: float = 0.0) -> None:
        super().__init__()
        self.runtime, self.tokens, self.options, self.settings = runtime, tokens, options, settings
        self.sequences = settings.sequences
        self.line_filter, self.meter, self.new_sampler, self.load_s = line_filter, meter, new_sampler, load_s
        self.end_id = self.meter.vocab.end_id
        self.break_ids = set(int(i) for i in self.meter.vocab.break_ids)
        self.seed = resolve_seed(options) if options.temperature > 0 or options.seed is not None else 0
        self.stops = StopMatcher([*options.stop])
        self.fed = 0
        self.history: list[int] = []  # tokens chosen so far, breaks included (sampler penalties)
        self.lines: list[str] = []
        self.report: list[dict[str, Any]] = []
        # The prefix's KV holds ``prefix_len`` positions; ``pending`` tokens follow them and are fed
        # (again, after a widening) whenever a line's first tokens are drawn.
        self.prefix_len = len(tokens) - 1
        self.pending = [tokens[-1]]
        self.candidates: list[Candidate] = []
        self.reserve: list[Candidate] = []  # after a widening: the first round's best fallback
        self.round = self.tried = 0
        self.alternatives: list[dict[str, Any]] = []
        self.decoded = 0
        self.started = self.first_at = 0.0

    # -- the scheduler's side ----------------------------------------------------------------
    def begin(self, seqs, kv) -> None:
        super().begin(seqs, kv)
        import time

        self.started = time.perf_counter()
        self.prefix = seqs[0]

    @property
    def prefilling(self) -> bool:
        return self.fed < len(self.tokens) - 1

    def feeds(self, budget: int) -> list[Feed]:
        if self.prefilling:  # the prompt but its last token, in chunks
            start, end = self.fed, min(len(self.tokens) - 1, self.fed + max(1, budget))
            self.fed = end
            return [Feed(self.prefix, self.tokens[i], i, False) for i in range(start, end)]
        if not self.candidates:  # a line starts: the prefix's last token, for its next-token logits
            last = len(self.pending) - 1
            return [Feed(self.prefix, t, self.prefix_len + i, i == last) for i, t in enumerate(self.pending)]
        base = self.prefix_len + len(self.pending)  # where each candidate's first token goes
        return [Feed(c.seq, c.tokens[-1], base + len(c.tokens) - 1, True)
                for c in self.candidates if c.running]

    def advance(self, step: Step) -> None:
        if self.prefilling or self.finished:
            return
        if not self.candidates:
            if step.has(self.prefix):  # else: the prompt's last chunk went in this step
                self.fork(step)
            return
        for candidate in self.candidates:
            if candidate.running and step.has(candidate.seq):
                self.extend(candidate, step)
        if not any(c.running for c in self.candidates):
            self.choose()

    # -- one line -----------------------------------------------------------------------------
    @property
    def line_index(self) -> int:
        return len(self.lines)

    @property
    def last_line(self) -> bool:
        return self.line_index == len(self.settings.meter) - 1

    def reply_so_far(self, candidate: Candidate | None = None) -> str:
        done = "".join(line + "\n" for line in self.lines)
        return done + (candidate.text if candidate else "")

    def fork(self, step: Step) -> None:
        """Draw every candidate's first token from the prefix's logits and fork the prefix."""
        import time

        if not self.first_at:
            self.first_at = time.perf_counter()
        widened = self.round > 0
        count = self.settings.widen_candidates if widened else self.settings.candidates
        logits = step.logits(self.prefix)
        raw = logits.copy()
        normalizer = log_normalizer(raw)
        self.meter.constrain(self.reply_so_far(), logits)
        self.candidates = []
        busy = {self.prefix, *(c.seq for c in self.reserve)}
        for k, seq in enumerate([s for s in self.seqs if s not in busy][:count]):
            candidate = Candidate(seq, self.sampler(k, widened))
            token = step.sample(self.prefix, candidate.sampler)
            self.kv.copy(self.prefix, seq)
            self.candidates.append(candidate)
            self.take(candidate, token, float(raw[token]) - normalizer)
        if not any(c.running for c in self.candidates):
            self.choose()

    def sampler(self, k: int, widened: bool) -> Any:
        options = self.options
        temperature = options.temperature
        if widened:
            temperature = max(temperature, self.settings.widen_temperature)
        elif temperature <= 0 and k > 0:
            temperature = GREEDY_SPREAD_TEMPERATURE
        seed = derive_seed(self.seed, self.line_index, self.round, k)
        return self.new_sampler(options, seed, temperature, [*self.tokens, *self.history])

    def extend(self, candidate: Candidate, step: Step) -> None:
        logits = step.logits(candidate.seq)
        raw_normalizer = log_normalizer(logits)
        raw = logits.copy()
        self.meter.constrain(self.reply_so_far(candidate), logits)
        token = step.sample(candidate.seq, candidate.sampler)
        self.take(candidate, token, float(raw[token]) - raw_normalizer)

    def take(self, candidate: Candidate, token: int, logprob: float) -> None:
        """Add a drawn token to a candidate: a break ends it, a word grows it."""
        self.decoded += 1
        if token in self.break_ids or token == self.end_id or self.runtime.is_end(token):
            candidate.break_token, candidate.break_logprob = token, logprob
            tail = self.runtime.piece(token).decode("utf-8", errors="replace").split("\n")[0]
            candidate.pieces.append(candidate.decoder.flush() + tail)
            return
        candidate.tokens.append(token)
        candidate.logprob += logprob
        candidate.pieces.append(candidate.decoder.feed(self.runtime.piece(token)))
        if self.meter.overshot(self.reply_so_far(candidate)):
            candidate.failed = "overshoot"
        elif len(candidate.tokens) >= self.line_budget():
            candidate.failed = "too long"

    def line_budget(self) -> int:
        """Tokens a candidate line may take: the setting, within what num_predict leaves."""
        if self.options.num_predict < 0:
            return self.settings.max_line_tokens
        left = self.options.num_predict - len(self.history) - 1  # one for the break
        return max(1, min(self.settings.max_line_tokens, left))

    def choose(self) -> None:
        target = self.settings.meter[self.line_index]
        for c in self.candidates:
            c.exact = c.break_token is not None and target in line_counts(c.text.strip())
            c.flags = list(self.line_filter(self.lines, c.text.strip(), self.last_line)) if c.exact else []
        self.alternatives += [c.summary() for c in self.candidates]
        qualified = [c for c in self.candidates if c.exact and not c.flags]
        if not qualified and self.round == 0 and self.settings.widen_candidates > 0:
            self.retry()
            return
        pool = [*self.candidates, *self.reserve]
        exact = [c for c in pool if c.exact]
        path = ("widened" if self.round else "search") if qualified else "meter" if exact else "closest"
        self.commit(self.fallback(pool) if not qualified else max(qualified, key=lambda c: c.score),
                    path, self.tried + len(self.candidates), len(qualified))

    def fallback(self, pool: list[Candidate]) -> Candidate:
        """With no clean line: the best-scored exact one, else the nearest count (then score)."""
        exact = [c for c in pool if c.exact]
        if exact:
            return max(exact, key=lambda c: c.score)
        target = self.settings.meter[self.line_index]

        def miss(c: Candidate) -> int:
            return min(abs(count - target) for count in line_counts(c.text.strip()))

        finished = [c for c in pool if c.break_token is not None]
        return max(finished or pool, key=lambda c: (-miss(c), c.score))

    def retry(self) -> None:
        """No candidate qualified: draw the line again, wider, from the same prefix (its pending
        tokens decoded once more for fresh logits). The best fallback so far is kept in reserve."""
        self.reserve = [self.fallback(self.candidates)]
        self.release(keep=self.reserve[0])
        self.tried += len(self.candidates)
        self.round += 1
        self.kv.truncate(self.prefix, self.prefix_len)
        self.candidates = []

    def release(self, keep: Candidate | None) -> None:
        for candidate in [*self.candidates, *self.reserve]:
            if candidate is not keep:
                self.kv.clear(candidate.seq)

    def commit(self, best: Candidate, path: str, tried: int, qualified: int) -> None:
        line = best.text.strip()
        self.report.append({
            "line": line, "path": path, "logprob": round(best.logprob, 4),
            "break_logprob": round(best.break_logprob, 4) if best.break_token is not None else None,
            "tokens": len(best.tokens) + 1,
            "candidates": tried, "qualified": qualified, "round": self.round, "alternatives": self.alternatives,
        })
        self.alternatives = []
        self.release(keep=best)
        self.kv.clear(self.prefix)
        self.prefix, self.reserve = best.seq, []
        base = self.prefix_len + len(self.pending)
        if best.break_token is not None:  # every line token is in the KV; the break comes next
            self.prefix_len, self.pending = base + len(best.tokens), [best.break_token]
        else:  # a line that never ended (closest): its last token is not in the KV yet; break it
            self.prefix_len = base + len(best.tokens) - 1
            self.pending = [best.tokens[-1], self.meter.vocab.newline_id]
        self.history += [*best.tokens, self.pending[-1]]
        self.lines.append(line)
        self.candidates, self.round, self.tried = [], 0, 0
        last = len(self.lines) == len(self.settings.meter)
        emit, stopped = self.stops.feed(line if last else line + "\n")
        if emit:
            self.out.put(Chunk(emit, len(self.tokens), len(self.history)))
        if last or stopped:
            self.finish()

    def finish(self) -> None:
        import time

        end = time.perf_counter()
        first = self.first_at or end
        paths = [line["path"] for line in self.report]
        summary = {
            "path": max(paths, key=PATH_ORDER.index) if paths else "search",
            "lines": self.report,
            "candidates": sum(line["candidates"] for line in self.report),
            "decoded_tokens": self.decoded,
            "logprob": round(sum(line["logprob"] + (line["break_logprob"] or 0.0) for line in self.report), 4),
        }
        self.out.put(Chunk(self.stops.flush(), len(self.tokens), len(self.history), "stop",
                           load_s=self.load_s, prompt_eval_s=first - self.started, eval_s=end - first,
                           extra={"search": summary}))
        self.finished = True


PATH_ORDER = ["search", "widened", "meter", "closest"]  # a reply's path is its worst line's


class SearchEngine:
    """A :class:`~gemmaiku.runtime.generator.Generator` that answers in search-decoded haiku.

    It wraps an :class:`Engine` (and raises the sequences each of its requests holds). A request
    with a ``grammar`` (JSON for a background task, say), or with too small a ``num_predict`` to
    search, is decoded plainly (metered when it has no grammar).
    """

    def __init__(self, engine: Engine, settings: SearchSettings | None = None,
                 line_filter: Callable[[str, str], LineFilter] = quality_filter) -> None:
        self.engine = engine
        self.settings = settings or SearchSettings()
        self.make_filter = line_filter
        if engine.loaded and engine.sequences_per_request < self.settings.sequences:
            engine.unload()
        engine.sequences_per_request = max(engine.sequences_per_request, self.settings.sequences)

    def __getattr__(self, name: str) -> Any:  # path, options, loaded, load, unload, metadata, render...
        return getattr(self.engine, name)

    @property
    def options(self) -> GenerationOptions:
        return self.engine.options

    @property
    def loaded(self) -> bool:
        return self.engine.loaded

    def load(self) -> float:
        return self.engine.load()

    def unload(self) -> None:
        self.engine.unload()

    def stream(self, messages: Messages | None = None, *, prompt: str | None = None,
               options: GenerationOptions | None = None, grammar: str | None = None) -> Iterator[Chunk]:
        options = options or self.engine.options
        if grammar or 0 <= options.num_predict < MIN_SEARCH_TOKENS:
            meter = None if grammar else self.settings.meter
            yield from self.engine.stream(messages, prompt=prompt, options=options, grammar=grammar, meter=meter)
            return
        load_s = self.engine.load()
        tokens = self.engine.prepare(messages, prompt)
        texts = {role: "\n".join(str(m.get("content", "")) for m in messages or [] if m.get("role") == role)
                 for role in ("user", "system")}
        if prompt is not None:
            texts = {"user": prompt, "system": ""}
        runtime = self.engine.runtime
        assert runtime is not None

        def new_sampler(options: GenerationOptions, seed: int, temperature: float, history: Sequence[int]) -> Any:
            return make_sampler(runtime.model, options, seed, temperature=temperature, history=history)

        job = SearchJob(runtime, tokens, options, self.settings, self.make_filter(texts["user"], texts["system"]),
                        meter=Meter(vocab_info(runtime.model), self.settings.meter), new_sampler=new_sampler,
                        load_s=load_s)
        yield from self.engine.run(job)

    def generate(self, messages: Messages | None = None, **kwargs: Any) -> Result:
        return collect(self.stream(messages, **kwargs))


def mean_logprob(extra: dict[str, Any]) -> float:
    """Mean log-probability per token of a searched reply under the unconstrained model."""
    lines = extra["search"]["lines"]
    tokens = sum(line["tokens"] for line in lines)
    return sum(line["logprob"] + (line["break_logprob"] or 0.0) for line in lines) / tokens if tokens else 0.0
