"""llama.cpp generation as a stream of small dataclasses (CLI, server, router and evaluation share it).

An :class:`Engine` owns one GGUF and implements :class:`~gemmaiku.runtime.generator.Generator`:
``stream()`` yields :class:`Chunk` objects as text is decoded; the last one carries
``finish_reason`` and the timings Ollama reports. Up to ``parallel`` requests decode together, in
one llama.cpp batch per step (runtime.batch: continuous batching); more wait in a bounded queue.
Every engine in the process shares a small pool of *compute slots* held for each decode step, so
that two models never fight for the cores: on this 2-core class of machine llama.cpp decode falls
from ~50 to ~1.5 tok/s when another busy process takes a core.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from gemmaiku.errors import GemmaikuError
from gemmaiku.runtime.batch import Feed, Job, LlamaRuntime, Scheduler, Step
from gemmaiku.runtime.generator import Chunk, Result, collect
from gemmaiku.runtime.options import GenerationOptions
from gemmaiku.runtime.prompt import Messages, PromptFormat, resolve_format
from gemmaiku.runtime.sampling import log_normalizer, make_sampler, resolve_seed

# A logits processor: (the reply's text so far, next-token logits to mask in place).
Processor = Callable[[str, np.ndarray], None]


class ComputeSlots:
    """At most ``slots`` decode steps run at once, across every engine in the process."""

    def __init__(self, slots: int = 1) -> None:
        self.slots = max(1, slots)
        self._semaphore = threading.BoundedSemaphore(self.slots)

    def threads_per_slot(self) -> int:
        return max(1, (os.cpu_count() or 1) // self.slots)

    def __enter__(self) -> ComputeSlots:
        self._semaphore.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._semaphore.release()


DEFAULT_SLOTS = ComputeSlots(int(os.environ.get("GEMMAIKU_COMPUTE_SLOTS", "1")))


@dataclass
class Engine:
    """One GGUF model, loaded on first use, decoding up to ``parallel`` requests together."""

    path: Path
    options: GenerationOptions = field(default_factory=GenerationOptions)
    template: str | None = None  # a Modelfile TEMPLATE; None: the GGUF's own or Gemma's format
    n_threads: int | None = None
    slots: ComputeSlots = field(default_factory=lambda: DEFAULT_SLOTS)
    parallel: int = 1
    sequences_per_request: int = 1  # search decoding holds one per candidate, plus its prefix
    max_queue: int = 64

    @classmethod
    def from_modelfile(cls, modelfile: Any, overrides: Mapping[str, Any] | None = None,
                       n_threads: int | None = None, **kwargs: Any) -> Engine:
        """An engine for a parsed Modelfile: its FROM (relative to the Modelfile), TEMPLATE and
        PARAMETERs, with ``overrides`` on top. (SYSTEM and MESSAGE belong to the conversation.)"""
        from gemmaiku.runtime.options import options_from

        source = modelfile.resolve(modelfile.from_)
        if not source.is_file():
            raise GemmaikuError(f"FROM {modelfile.from_}: no such GGUF file (fix the Modelfile's FROM line)")
        options = options_from({**modelfile.options(), **dict(overrides or {})})
        return cls(source, options=options, template=modelfile.template, n_threads=n_threads, **kwargs)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.is_file():
            raise GemmaikuError(f"no such model file: {self.path} (give the path to a .gguf file)")
        if self.parallel < 1:
            raise GemmaikuError(f"parallel must be at least 1, got {self.parallel}")
        self.runtime: LlamaRuntime | None = None
        self.scheduler: Scheduler | None = None
        self._format: PromptFormat | None = None
        self._metadata: dict[str, str] = {}
        self._lock = threading.Lock()
        self.load_s = 0.0

    # -- loading -----------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self.runtime is not None

    @property
    def sequences(self) -> int:
        return self.parallel * self.sequences_per_request

    @property
    def context_size(self) -> int:
        """KV cells in all: ``num_ctx`` for every sequence (each has its own stream)."""
        return self.sequences * self.options.num_ctx

    def load(self) -> float:
        """Load the model if needed; return the seconds this call spent loading."""
        with self._lock:
            if self.runtime is not None:
                return 0.0
            start = time.perf_counter()
            threads = self.n_threads or self.slots.threads_per_slot()
            runtime = LlamaRuntime(str(self.path), n_ctx=self.context_size, n_seq=self.sequences,
                                   n_threads=threads)
            self._metadata = runtime.model.metadata()
            self._format = resolve_format(self._metadata, template=self.template,
                                          token_text=runtime.model.token_get_text)
            self.scheduler = Scheduler(runtime, compute=lambda: self.slots, max_queue=self.max_queue)
            self.runtime = runtime
            self.load_s = time.perf_counter() - start
            return self.load_s

    def unload(self) -> None:
        with self._lock:
            if self.scheduler is not None:
                self.scheduler.close()
            if self.runtime is not None:
                self.runtime.close()
            self.runtime, self.scheduler = None, None

    @property
    def metadata(self) -> Mapping[str, str]:
        self.load()
        return self._metadata

    @property
    def prompt_format(self) -> PromptFormat:
        self.load()
        assert self._format is not None
        return self._format

    def counts(self) -> dict[str, int]:
        """The scheduler's slot accounting (all zeros when not loaded)."""
        return self.scheduler.counts() if self.scheduler else {"active": 0, "waiting": 0, "free_sequences": 0,
                                                                "sequences": 0}

    # -- generation --------------------------------------------------------------------------
    def render(self, messages: Messages) -> str:
        return self.prompt_format.render(messages)

    def tokenize(self, text: str) -> list[int]:
        self.load()
        assert self.runtime is not None
        model = self.runtime.model
        tokens = model.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        bos = model.token_bos()
        wants_bos = str(self._metadata.get("tokenizer.ggml.add_bos_token", "false")).lower() == "true"
        if wants_bos and bos >= 0 and (not tokens or tokens[0] != bos):
            tokens.insert(0, bos)
        return tokens

    def prepare(self, messages: Messages | None, prompt: str | None) -> list[int]:
        """The prompt's tokens for a chat or a raw prompt; a prompt over the context is an error."""
        if (messages is None) == (prompt is None):
            raise GemmaikuError("give either messages or a raw prompt")
        load_text = prompt if prompt is not None else self.render(messages or [])
        tokens = self.tokenize(load_text)
        if len(tokens) >= self.options.num_ctx:
            raise GemmaikuError(
                f"the prompt is {len(tokens)} tokens, more than the context of {self.options.num_ctx} "
                "(shorten the conversation or raise num_ctx)"
            )
        return tokens

    def stream(
        self,
        messages: Messages | None = None,
        *,
        prompt: str | None = None,
        options: GenerationOptions | None = None,
        grammar: str | None = None,
        meter: tuple[int, ...] | None = None,
        score: bool = False,
    ) -> Iterator[Chunk]:
        """Stream a reply to ``messages`` (chat) or to a raw ``prompt`` (already formatted).

        ``grammar`` (GBNF text) constrains decoding, e.g. to JSON; ``meter`` (e.g. (5, 7, 5)) lets
        lines end only where their syllables fit (runtime.meter). ``score``: the final chunk's
        ``extra["logprob"]`` is the reply's log-probability (its end included) under the
        unconstrained model, over ``extra["scored_tokens"]`` tokens. Closing the iterator early (a
        client that went away) stops the generation and frees its sequence at once.
        """
        options = options or self.options
        load_s = self.load()
        tokens = self.prepare(messages, prompt)
        room = self.options.num_ctx - len(tokens)
        max_tokens = room if options.num_predict < 0 else min(options.num_predict, room)
        if max_tokens <= 0:
            yield Chunk("", len(tokens), 0, "length", load_s=load_s)
            return
        assert self.runtime is not None
        constraint = compiled_grammar(grammar) if grammar else None
        processor = metered(self.runtime, meter) if meter else None
        job = TextJob(self.runtime, tokens, make_sampler(self.runtime.model, options, resolve_seed(options),
                                                         grammar=constraint, history=tokens),
                      stops=[*options.stop, *self.prompt_format.stop], max_tokens=max_tokens,
                      processor=processor, load_s=load_s, score=score)
        yield from self.run(job)

    def run(self, job: ChunkJob) -> Iterator[Chunk]:
        """Submit a job and stream its chunks; closing the stream cancels the job."""
        assert self.scheduler is not None
        self.scheduler.submit(job)
        try:
            while True:
                item = job.out.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.done:
                    return
        finally:
            job.cancel()
            if self.scheduler is not None:
                self.scheduler.wake()

    def generate(
        self,
        messages: Messages | None = None,
        *,
        prompt: str | None = None,
        options: GenerationOptions | None = None,
        grammar: str | None = None,
        meter: tuple[int, ...] | None = None,
        score: bool = False,
    ) -> Result:
        return collect(self.stream(messages, prompt=prompt, options=options, grammar=grammar, meter=meter,
                                   score=score))


def metered(runtime: LlamaRuntime, meter: Sequence[int]) -> Processor:
    from gemmaiku.runtime.meter import Meter, vocab_info

    return Meter(vocab_info(runtime.model), meter).constrain


class ChunkJob(Job):
    """A job whose output is a stream of chunks (or an exception) read by another thread."""

    def __init__(self) -> None:
        super().__init__()
        self.out: queue.SimpleQueue[Chunk | BaseException] = queue.SimpleQueue()

    def fail(self, error: BaseException) -> None:
        if not self.finished:
            self.out.put(error)
        super().fail(error)


class TextJob(ChunkJob):
    """One reply: evaluate the prompt (in chunks), then sample a token per step until it ends."""

    def __init__(self, runtime: LlamaRuntime, tokens: list[int], sampler: Any, *, stops: Sequence[str],
                 max_tokens: int, processor: Processor | None = None, load_s: float = 0.0,
                 score: bool = False) -> None:
        super().__init__()
        self.score, self.logprob = score, 0.0
        self.runtime, self.tokens, self.sampler = runtime, tokens, sampler
        self.max_tokens, self.processor, self.load_s = max_tokens, processor, load_s
        self.stops = StopMatcher(stops)
        self.decoder = Utf8Decoder()
        self.fed = 0
        self.generated: list[int] = []
        self.text = ""
        self.started = self.first_at = 0.0

    @property
    def prefilling(self) -> bool:
        return self.fed < len(self.tokens)

    def begin(self, seqs, kv) -> None:
        super().begin(seqs, kv)
        self.started = time.perf_counter()

    def feeds(self, budget: int) -> list[Feed]:
        seq = self.seqs[0]
        if self.prefilling:
            start, end = self.fed, min(len(self.tokens), self.fed + max(1, budget))
            self.fed = end
            return [Feed(seq, self.tokens[i], i, i == len(self.tokens) - 1) for i in range(start, end)]
        pos = len(self.tokens) + len(self.generated) - 1
        return [Feed(seq, self.generated[-1], pos, True)]

    def advance(self, step: Step) -> None:
        seq = self.seqs[0]
        if not step.has(seq):
            return  # a prompt chunk that was not the last
        if not self.first_at:
            self.first_at = time.perf_counter()
        logits = step.logits(seq)
        raw = (logits.copy(), log_normalizer(logits)) if self.score else None
        if self.processor is not None:
            self.processor(self.text, logits)
        token = step.sample(seq, self.sampler)
        if raw is not None:
            self.logprob += float(raw[0][token]) - raw[1]
        if self.runtime.is_end(token):
            self.finish("stop")
            return
        self.generated.append(token)
        piece = self.decoder.feed(self.runtime.piece(token))
        self.text += piece
        emit, stopped = self.stops.feed(piece)
        if emit:
            self.out.put(Chunk(emit, len(self.tokens), len(self.generated)))
        if stopped:
            self.finish("stop")
        elif len(self.generated) >= self.max_tokens:
            self.finish("length")

    def finish(self, reason: str) -> None:
        end = time.perf_counter()
        tail = "" if reason == "stop" and self.stops.stopped else self.stops.flush(self.decoder.flush())
        first = self.first_at or end
        extra = {"logprob": round(self.logprob, 4), "scored_tokens": len(self.generated) + (reason == "stop")} \
            if self.score else None
        self.out.put(Chunk(tail, len(self.tokens), len(self.generated), reason, load_s=self.load_s,
                           prompt_eval_s=first - self.started, eval_s=end - first, extra=extra))
        self.finished = True


@lru_cache(maxsize=32)
def compiled_grammar(text: str) -> Any:
    """A GBNF grammar compiled once per distinct text (compiling costs milliseconds per call)."""
    from llama_cpp import LlamaGrammar

    try:
        return LlamaGrammar.from_string(text, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise GemmaikuError(f"bad grammar: {exc}") from None


class Utf8Decoder:
    """Bytes from single tokens can split a UTF-8 character; hold them until it is whole."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> str:
        self._pending += data
        try:
            text, self._pending = self._pending.decode("utf-8"), b""
            return text
        except UnicodeDecodeError as exc:
            if exc.reason == "unexpected end of data":
                text = self._pending[: exc.start].decode("utf-8")
                self._pending = self._pending[exc.start :]
                return text
            text, self._pending = self._pending.decode("utf-8", errors="replace"), b""
            return text

    def flush(self) -> str:
        text, self._pending = self._pending.decode("utf-8", errors="replace"), b""
        return text


class StopMatcher:
    """Emit text as it comes, but hold back anything that could be the start of a stop string."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in dict.fromkeys(stops) if s]
        self._held = ""
        self.stopped = False

    def feed(self, text: str) -> tuple[str, bool]:
        buffer = self._held + text
        hits = [i for i in (buffer.find(s) for s in self.stops) if i >= 0]
        if hits:
            self._held, self.stopped = "", True
            return buffer[: min(hits)], True
        keep = self._partial_suffix(buffer)
        self._held = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep], False

    def flush(self, text: str = "") -> str:
        emit, stopped = self.feed(text)
        if stopped:
            return emit
        rest, self._held = self._held, ""
        return emit + rest

    def _partial_suffix(self, buffer: str) -> int:
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(buffer)), longest, -1):
                if buffer.endswith(stop[:size]):
                    longest = size
                    break
        return longest
