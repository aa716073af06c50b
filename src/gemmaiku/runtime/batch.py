"""Continuous batching on llama.cpp's batch API: every running request advances in one
``llama_decode`` per step.

On a CPU, decoding is bound by reading the weights, so one step over several sequences costs
little more than a step over one (measured on the 270M, 1 thread: 60 ms for 1 sequence, 82 ms
for 4). A :class:`Scheduler` owns one llama.cpp context with ``n_seq_max`` sequences sharing a
unified KV cache. Work comes as :class:`Job` objects (a plain reply, or search decoding's
candidate lines): at each step the scheduler asks every job for the tokens it wants decoded
(:class:`Feed`), decodes them all in one batch, and hands each job its logits (:class:`Step`).

* A new job joins the running batch at the next step; a finished or cancelled one frees its
  sequences at once.
* A newcomer's prompt is evaluated in chunks of ``prompt_chunk`` tokens while others are
  decoding, so a long prompt does not stall everyone.
* Forking is cheap: ``Sequences.copy`` copies the prefix's KV cells (``llama_memory_seq_cp``), so
  K candidates continue one evaluated prefix without evaluating it again.
* Every ``llama_decode`` runs inside the process-wide compute slots, so two models never fight
  for the cores.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from gemmaiku.errors import GemmaikuError

# llama_decode's return codes (llama.h).
DECODE_ERRORS = {
    1: "no room left in the context; shorten the conversation or raise num_ctx",
    2: "aborted",
    -1: "an invalid batch",
}
PROMPT_CHUNK = 64  # prompt tokens per step while other sequences are decoding
MAX_BATCH = 512  # tokens per llama_decode


class Busy(GemmaikuError):
    """The model's queue is full (the server answers 503)."""


@dataclass(frozen=True)
class Feed:
    """One token for one sequence at one position; ``logits``: return its next-token logits."""

    seq: int
    token: int
    pos: int
    logits: bool


class Step:
    """What one decode produced: next-token logits for each sequence that asked for them."""

    def __init__(self, runtime: LlamaRuntime, rows: dict[int, int]) -> None:
        self.runtime, self.rows = runtime, rows

    def has(self, seq: int) -> bool:
        return seq in self.rows

    def logits(self, seq: int) -> np.ndarray:
        """A writable view of llama.cpp's logits for ``seq`` (valid until the next decode)."""
        return self.runtime.logits(self.rows[seq])

    def sample(self, seq: int, sampler: Any) -> int:
        """Draw with a llama.cpp sampler chain from ``seq``'s (possibly masked) logits."""
        return int(sampler.sample(self.runtime.context, self.rows[seq]))


class Sequences:
    """KV-cache operations on sequence ids (scheduler thread only)."""

    def __init__(self, runtime: LlamaRuntime) -> None:
        self.runtime = runtime

    def copy(self, source: int, target: int) -> None:
        """``target`` shares ``source``'s cells (the whole sequence): a fork."""
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self.runtime.memory, target, -1, -1)
        llama_cpp.llama_memory_seq_cp(self.runtime.memory, source, target, -1, -1)

    def clear(self, seq: int) -> None:
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self.runtime.memory, seq, -1, -1)

    def truncate(self, seq: int, pos: int) -> None:
        """Forget ``seq``'s positions from ``pos`` on."""
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self.runtime.memory, seq, pos, -1)

    def used(self, seq: int) -> int:
        """Positions held by ``seq`` (its highest position + 1; 0 when empty)."""
        import llama_cpp

        return int(llama_cpp.llama_memory_seq_pos_max(self.runtime.memory, seq)) + 1


class Job:
    """A unit of work on the scheduler. Subclasses implement :meth:`feeds` and :meth:`advance`.

    ``sequences``: how many sequence ids it holds while running. ``prefilling``: it is still
    evaluating its prompt (and takes prompt-sized bites of the batch). Methods run on the
    scheduler thread; :meth:`cancel` may be called from any thread.
    """

    sequences = 1

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.finished = False
        self.cancelled = threading.Event()

    @property
    def prefilling(self) -> bool:
        return False

    def begin(self, seqs: list[int], kv: Sequences) -> None:
        self.seqs, self.kv = seqs, kv

    def feeds(self, budget: int) -> list[Feed]:
        raise NotImplementedError

    def advance(self, step: Step) -> None:
        raise NotImplementedError

    def fail(self, error: BaseException) -> None:
        """The job cannot go on (an error, or the model was unloaded)."""
        self.finished = True

    def cancel(self) -> None:
        self.cancelled.set()


def in_sequence_order(feeds: Sequence[Feed]) -> list[Feed]:
    """The feeds ordered by sequence id (each sequence's own tokens keep their order).

    With one KV stream per sequence, llama.cpp cuts a batch into micro-batches wherever the next
    token's sequence is not the previous one's + 1 (llama_batch_allocr::split_equal, sequential),
    and each micro-batch reads every weight again: four sequences fed as 1, 3, 0, 2 cost twice
    the step they cost as 0, 1, 2, 3 (the 270M, 1 thread: 206 vs 96 ms)."""
    return sorted(feeds, key=lambda feed: feed.seq)


class LlamaRuntime:
    """One GGUF: a llama.cpp model and a context with ``n_seq`` sequences, each with its own KV
    stream of ``n_ctx / n_seq`` cells."""

    def __init__(self, path: str, *, n_ctx: int, n_seq: int, n_threads: int,
                 max_batch: int = MAX_BATCH) -> None:
        import llama_cpp
        from llama_cpp import _internals

        backend_init()
        params = llama_cpp.llama_model_default_params()
        # No "extra" buffer types: on CPUs with AMX (Sapphire Rapids and later) llama.cpp's AMX
        # matmul for quantized weights crashes the process (measured with the bundled Q4_K_M).
        params.use_extra_bufts = False
        try:
            # verbose=True only means "do not redirect": with False, llama-cpp-python swaps the
            # process' stdout/stderr file descriptors for /dev/null while loading, and two models
            # loading at once in a server restore them in the wrong order, leaving stderr (every
            # log line after) going nowhere. llama.cpp's own log stays quiet: see backend_init.
            self.model = _internals.LlamaModel(path_model=path, params=params, verbose=True)
            ctx_params = llama_cpp.llama_context_default_params()
            ctx_params.n_ctx = n_ctx
            ctx_params.n_batch = ctx_params.n_ubatch = max_batch
            ctx_params.n_seq_max = n_seq
            ctx_params.n_outputs_max = max(n_seq, 8)  # logits rows per decode: one per sequence
            # One KV stream per sequence: llama.cpp's unified cache gives a sequence different
            # logits depending on what else shares the batch (measured: up to 1.8 on the bundled
            # Q4_K_M; upstream issue #24962), which would break seeded reproducibility. Separate
            # streams are exact, and a fork copies the prefix's cells (milliseconds).
            ctx_params.kv_unified = False
            ctx_params.swa_full = False  # sliding-window layers keep their window, not the whole context
            ctx_params.n_threads = ctx_params.n_threads_batch = n_threads
            self.context = _internals.LlamaContext(model=self.model, params=ctx_params, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise GemmaikuError(f"llama.cpp could not load {path}: {exc} (is it a valid GGUF?)") from None
        self.batch = _internals.LlamaBatch(n_tokens=max_batch, embd=0, n_seq_max=1, verbose=False)
        self.n_vocab = self.model.n_vocab()
        self.n_seq, self.max_batch = n_seq, max_batch
        self.memory = self.context.memory
        self._pieces: dict[int, bytes] = {}

    def n_ctx(self) -> int:
        return self.context.n_ctx()

    def decode(self, feeds: Sequence[Feed]) -> Step:
        b = self.batch.batch
        rows: dict[int, int] = {}
        for i, feed in enumerate(in_sequence_order(feeds)):
            b.token[i], b.pos[i] = feed.token, feed.pos
            b.seq_id[i][0], b.n_seq_id[i] = feed.seq, 1
            b.logits[i] = feed.logits
            if feed.logits:
                rows[feed.seq] = i
        b.n_tokens = len(feeds)
        import llama_cpp

        code = llama_cpp.llama_decode(self.context.ctx, b)
        if code != 0:
            why = DECODE_ERRORS.get(code, "an internal error")
            raise GemmaikuError(f"llama.cpp could not decode the batch (code {code}: {why})")
        return Step(self, rows)

    def logits(self, row: int) -> np.ndarray:
        pointer = self.context.get_logits_ith(row)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))

    def piece(self, token: int) -> bytes:
        """The bytes a token adds to the text (special tokens add none)."""
        cached = self._pieces.get(token)
        if cached is None:
            import ctypes

            import llama_cpp

            size = 64
            buffer = ctypes.create_string_buffer(size)
            n = llama_cpp.llama_token_to_piece(self.model.vocab, token, buffer, size, 0, False)
            cached = buffer.raw[: max(0, n)]
            self._pieces[token] = cached
        return cached

    def is_end(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self.model.vocab, token))

    def close(self) -> None:
        self.batch.close()
        self.context.close()
        self.model.close()


@lru_cache(maxsize=1)
def backend_init() -> None:
    """llama.cpp's one-time set-up (the CPU backend's tables that quantized types need), and its
    log routed through llama-cpp-python's logger, quiet unless GEMMAIKU_LLAMA_LOG=1."""
    import os

    import llama_cpp
    from llama_cpp import _logger

    llama_cpp.llama_backend_init()
    # llama-cpp-python maps llama.cpp's log levels by an older enum (a warning arrives as ERROR,
    # an error as DEBUG), so "quiet" is above every level; our own errors say what went wrong.
    verbose = os.environ.get("GEMMAIKU_LLAMA_LOG") == "1"
    _logger.logger.setLevel(logging.DEBUG if verbose else logging.CRITICAL + 1)


class Scheduler:
    """Runs jobs on one :class:`LlamaRuntime` from a background thread, one decode per step."""

    def __init__(self, runtime: LlamaRuntime, *, compute: Callable[[], Any],
                 prompt_chunk: int = PROMPT_CHUNK, max_queue: int = 64) -> None:
        self.runtime, self.compute = runtime, compute
        self.kv = Sequences(runtime)
        self.prompt_chunk, self.max_queue = prompt_chunk, max_queue
        self.free = list(range(runtime.n_seq))
        self.waiting: deque[Job] = deque()
        self.active: list[Job] = []
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="gemmaiku-scheduler", daemon=True)
        self._thread.start()

    # -- any thread --------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        if job.sequences > self.runtime.n_seq:
            raise GemmaikuError(
                f"this request needs {job.sequences} sequences, the model has {self.runtime.n_seq} "
                "(raise --parallel or ask for fewer candidates)"
            )
        with self._wake:
            if self._closed:
                raise GemmaikuError("the model is unloaded (send the request again)")
            self._drop_cancelled()
            if len(self.waiting) >= self.max_queue:
                raise Busy(f"the model's queue is full ({self.max_queue} waiting; retry shortly)")
            self.waiting.append(job)
            self._wake.notify()

    def wake(self) -> None:
        with self._wake:
            self._wake.notify()

    def counts(self) -> dict[str, int]:
        """Slot accounting: jobs running and waiting, sequences free (for tests and /api/ps)."""
        with self._wake:
            return {"active": len(self.active), "waiting": len(self.waiting), "free_sequences": len(self.free),
                    "sequences": self.runtime.n_seq}

    def close(self) -> None:
        """Stop: fail every job still here, wait for the thread, free nothing else."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    # -- the scheduler thread ----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._wake:
                self._admit()
                while not self.active and not self._closed:
                    self._wake.wait()
                    self._admit()
                if self._closed:
                    jobs = [*self.active, *self.waiting]
                    self.active, self.waiting = [], deque()
                    break
            self._step()
        for job in jobs:
            job.fail(GemmaikuError("the model was unloaded while generating (send the request again)"))

    def _drop_cancelled(self) -> None:
        """Forget waiting jobs whose client left: behind a job still waiting for sequences they
        would keep their place in the queue until they reached its head."""
        for job in [j for j in self.waiting if j.cancelled.is_set()]:
            self.waiting.remove(job)
            job.fail(GemmaikuError("cancelled"))

    def _admit(self) -> None:
        while self.waiting:
            job = self.waiting[0]
            if job.cancelled.is_set():
                self.waiting.popleft()
                job.fail(GemmaikuError("cancelled"))
                continue
            if job.sequences > len(self.free):
                return
            self.waiting.popleft()
            seqs = [self.free.pop(0) for _ in range(job.sequences)]
            for seq in seqs:
                self.kv.clear(seq)
            job.begin(seqs, self.kv)
            self.active.append(job)

    def _step(self) -> None:
        self._retire([j for j in self.active if j.cancelled.is_set() or j.finished])
        if not self.active:
            return
        feeds: list[Feed] = []
        owners: list[Job] = []
        decoding = [j for j in self.active if not j.prefilling]
        prefilling = [j for j in self.active if j.prefilling]
        for job in decoding:
            wanted = job.feeds(self.runtime.max_batch - len(feeds))
            feeds.extend(wanted)
            owners.append(job)
        room = self.runtime.max_batch - len(feeds)
        share = min(room, self.prompt_chunk) if feeds else room
        for job in prefilling:
            if share <= 0:
                break
            wanted = job.feeds(share)
            feeds.extend(wanted)
            owners.append(job)
            share -= len(wanted)
        # Round robin: a prompt that waited this step goes first next time.
        if prefilling:
            self.active = decoding + prefilling[1:] + prefilling[:1]
        if not feeds:
            for job in owners:
                job.advance(Step(self.runtime, {}))
            return
        try:
            with self.compute():
                step = self.runtime.decode(feeds)
        except GemmaikuError as exc:
            for job in owners:
                job.fail(exc)
            self._retire(owners)
            return
        for job in owners:
            try:
                job.advance(step)
            except Exception as exc:  # a job's bug must not take the scheduler down
                job.fail(exc)

    def _retire(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        with self._wake:
            for job in jobs:
                if job in self.active:
                    self.active.remove(job)
                    for seq in job.seqs:
                        self.kv.clear(seq)
                    self.free.extend(job.seqs)
                    job.seqs = []
                if not job.finished:
                    job.fail(GemmaikuError("cancelled"))
            self.free.sort()
