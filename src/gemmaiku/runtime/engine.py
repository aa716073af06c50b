"""llama.cpp generation as a stream of small dataclasses (CLI, server, router and evaluation share it).

An :class:`Engine` owns one GGUF. ``stream()`` yields :class:`Chunk` objects as text is decoded;
the last one carries ``finish_reason`` and the timings Ollama reports. ``generate()`` is the plain
function on top. Requests to one engine run one at a time, and all engines share a small pool of
*compute slots* so that two models never fight for the cores: on this 2-core class of machine
llama.cpp decode falls from ~50 to ~1.5 tok/s when another busy process takes a core.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from gemmaiku.errors import GemmaikuError
from gemmaiku.runtime.generator import Chunk, Result, collect
from gemmaiku.runtime.options import GenerationOptions, sampler_kwargs
from gemmaiku.runtime.prompt import Messages, PromptFormat, resolve_format


class ComputeSlots:
    """At most ``slots`` generations run at once, across every engine in the process."""

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
    """One GGUF model, loaded on first use, generating one request at a time."""

    path: Path
    options: GenerationOptions = field(default_factory=GenerationOptions)
    template: str | None = None  # a Modelfile TEMPLATE; None: the GGUF's own or Gemma's format
    n_threads: int | None = None
    slots: ComputeSlots = field(default_factory=lambda: DEFAULT_SLOTS)

    @classmethod
    def from_modelfile(cls, modelfile: Any, overrides: Mapping[str, Any] | None = None,
                       n_threads: int | None = None) -> Engine:
        """An engine for a parsed Modelfile: its FROM (relative to the Modelfile), TEMPLATE and
        PARAMETERs, with ``overrides`` on top. (SYSTEM and MESSAGE belong to the conversation.)"""
        from gemmaiku.runtime.options import options_from

        source = modelfile.resolve(modelfile.from_)
        if not source.is_file():
            raise GemmaikuError(f"FROM {modelfile.from_}: no such GGUF file (fix the Modelfile's FROM line)")
        options = options_from({**modelfile.options(), **dict(overrides or {})})
        return cls(source, options=options, template=modelfile.template, n_threads=n_threads)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.is_file():
            raise GemmaikuError(f"no such model file: {self.path} (give the path to a .gguf file)")
        self._llama: Any = None
        self._format: PromptFormat | None = None
        self._lock = threading.Lock()
        self.load_s = 0.0

    # -- loading -----------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._llama is not None

    def load(self) -> float:
        """Load the model if needed; return the seconds this call spent loading."""
        if self._llama is not None:
            return 0.0
        from llama_cpp import Llama

        start = time.perf_counter()
        try:
            self._llama = Llama(
                model_path=str(self.path),
                n_ctx=self.options.num_ctx,
                n_threads=self.n_threads or self.slots.threads_per_slot(),
                # Prompt evaluation too: llama-cpp-python defaults it to every core, which stalls
                # next to other work (measured: 0.6-9 s per prompt vs a steady 0.33 s on 1 thread).
                n_threads_batch=self.n_threads or self.slots.threads_per_slot(),
                last_n_tokens_size=max(self.options.repeat_last_n, 0) or 64,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise GemmaikuError(f"llama.cpp could not load {self.path}: {exc} (is it a valid GGUF?)") from None
        llama = self._llama
        self._format = resolve_format(
            llama.metadata,
            template=self.template,
            token_text=lambda i: llama._model.token_get_text(i),
        )
        self.load_s = time.perf_counter() - start
        return self.load_s

    def unload(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
            self._llama = None

    @property
    def metadata(self) -> Mapping[str, str]:
        self.load()
        return self._llama.metadata

    @property
    def prompt_format(self) -> PromptFormat:
        self.load()
        assert self._format is not None
        return self._format

    # -- generation --------------------------------------------------------------------------
    def render(self, messages: Messages) -> str:
        return self.prompt_format.render(messages)

    def tokenize(self, text: str) -> list[int]:
        self.load()
        llama = self._llama
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        bos = llama.token_bos()
        wants_bos = str(llama.metadata.get("tokenizer.ggml.add_bos_token", "false")).lower() == "true"
        if wants_bos and bos >= 0 and (not tokens or tokens[0] != bos):
            tokens.insert(0, bos)
        return tokens

    def stream(
        self,
        messages: Messages | None = None,
        *,
        prompt: str | None = None,
        options: GenerationOptions | None = None,
        grammar: str | None = None,
        meter: tuple[int, ...] | None = None,
    ) -> Iterator[Chunk]:
        """Stream a reply to ``messages`` (chat) or to a raw ``prompt`` (already formatted).

        ``grammar`` (GBNF text) constrains decoding, e.g. to JSON; ``meter`` (e.g. (5, 7, 5)) lets
        lines end only where their syllables fit (runtime.meter). Closing the iterator early (a
        client that went away) stops the generation.
        """
        if (messages is None) == (prompt is None):
            raise GemmaikuError("give either messages or a raw prompt")
        options = options or self.options
        with self._lock:
            load_s = self.load()
            text = prompt if prompt is not None else self.render(messages or [])
            tokens = self.tokenize(text)
            with self.slots:
                yield from self._decode(tokens, options, load_s, grammar, meter)

    def generate(
        self,
        messages: Messages | None = None,
        *,
        prompt: str | None = None,
        options: GenerationOptions | None = None,
        grammar: str | None = None,
        meter: tuple[int, ...] | None = None,
    ) -> Result:
        return collect(self.stream(messages, prompt=prompt, options=options, grammar=grammar, meter=meter))

    def _decode(self, tokens: list[int], options: GenerationOptions, load_s: float,
                grammar: str | None = None, meter: tuple[int, ...] | None = None) -> Iterator[Chunk]:
        import llama_cpp

        llama = self._llama
        n_ctx = min(llama.n_ctx(), self.options.num_ctx)  # llama.cpp may pad its own figure
        if len(tokens) >= n_ctx:
            raise GemmaikuError(
                f"the prompt is {len(tokens)} tokens, more than the context of {n_ctx} "
                "(shorten the conversation or raise num_ctx)"
            )
        room = n_ctx - len(tokens)
        max_tokens = room if options.num_predict < 0 else min(options.num_predict, room)
        seed = options.seed if options.seed is not None and options.seed >= 0 else random.getrandbits(32)
        llama.set_seed(seed)
        stops = StopMatcher([*options.stop, *self.prompt_format.stop])
        decoder = Utf8Decoder()

        start = time.perf_counter()
        first_token_at: float | None = None
        generated: list[int] = []
        finish = "length"
        if max_tokens > 0:
            constraint = compiled_grammar(grammar) if grammar else None
            processors = None
            if meter:
                from gemmaiku.runtime.meter import meter_processor

                processors = meter_processor(llama, len(tokens), meter)
            for token in llama.generate(tokens, reset=True, grammar=constraint, logits_processor=processors,
                                        **sampler_kwargs(options)):
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                if llama_cpp.llama_vocab_is_eog(llama._model.vocab, token):
                    finish = "stop"
                    break
                piece = decoder.feed(llama.detokenize([token], prev_tokens=tokens + generated))
                generated.append(token)
                emit, stopped = stops.feed(piece)
                if emit:
                    yield Chunk(emit, len(tokens), len(generated))
                if stopped:
                    finish = "stop"
                    break
                if len(generated) >= max_tokens:
                    break
        end = time.perf_counter()
        tail = "" if finish == "stop" and stops.stopped else stops.flush(decoder.flush())
        first = first_token_at or end
        yield Chunk(
            tail, len(tokens), len(generated), finish,
            load_s=load_s, prompt_eval_s=first - start, eval_s=end - first,
        )


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
