"""Continuous batching on the real base model: requests decoded together give what each gives
alone, seeds reproduce whatever shares the batch, and cancelled requests free their sequences."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gemmaiku.runtime import Engine, options_from

pytestmark = pytest.mark.slow

PROMPTS = ["Write about rain.", "Name three colours.", "What is a river?", "Describe a cat in one line."]


def messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def parallel_engine(base_gguf: Path) -> Engine:
    engine = Engine(base_gguf, options=options_from({"temperature": 0, "num_predict": 20, "seed": 1}), n_threads=1,
                    parallel=4)
    yield engine
    engine.unload()


def run_together(engine: Engine, jobs: list[tuple[str, dict]]) -> list[str]:
    """Start every request at once (one thread each) and return their texts in order."""
    results: list[str | None] = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def worker(i: int, text: str, overrides: dict) -> None:
        barrier.wait()
        results[i] = engine.generate(messages(text), options=options_from(overrides, base=engine.options)).text

    threads = [threading.Thread(target=worker, args=(i, text, o)) for i, (text, o) in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def test_greedy_replies_in_one_batch_equal_each_prompt_alone(parallel_engine: Engine):
    alone = [parallel_engine.generate(messages(p)).text for p in PROMPTS]
    together = run_together(parallel_engine, [(p, {}) for p in PROMPTS])
    assert together == alone
    assert parallel_engine.counts()["free_sequences"] == 4


def test_a_seeded_sample_is_the_same_whatever_else_is_in_the_batch(parallel_engine: Engine):
    sampled = {"temperature": 0.9, "seed": 42}
    alone = parallel_engine.generate(messages(PROMPTS[0]), options=options_from(sampled, base=parallel_engine.options))
    crowd = run_together(parallel_engine, [(PROMPTS[0], sampled), (PROMPTS[1], {"temperature": 1.2, "seed": 7}),
                                           (PROMPTS[2], {"temperature": 0.5, "seed": 3})])
    assert crowd[0] == alone.text


def test_a_cancelled_request_leaves_the_others_intact_and_frees_its_sequence(parallel_engine: Engine):
    expected = parallel_engine.generate(messages(PROMPTS[1])).text
    long = options_from({"num_predict": 200}, base=parallel_engine.options)
    stream = parallel_engine.stream(messages(PROMPTS[0]), options=long)
    next(stream)  # it is decoding
    other: list[str] = []
    thread = threading.Thread(target=lambda: other.append(parallel_engine.generate(messages(PROMPTS[1])).text))
    thread.start()
    stream.close()  # the client hung up
    thread.join(timeout=300)
    assert other == [expected]
    counts = parallel_engine.counts()
    assert counts["active"] == 0 and counts["waiting"] == 0 and counts["free_sequences"] == 4


def test_more_requests_than_sequences_wait_in_the_queue_and_all_finish(parallel_engine: Engine):
    jobs = [(PROMPTS[i % len(PROMPTS)], {}) for i in range(7)]
    alone = {p: parallel_engine.generate(messages(p)).text for p in PROMPTS}
    together = run_together(parallel_engine, jobs)
    assert together == [alone[p] for p, _ in jobs]
    assert parallel_engine.counts()["free_sequences"] == 4


def test_a_full_queue_is_refused_with_busy(base_gguf: Path):
    from gemmaiku.runtime.batch import Busy

    engine = Engine(base_gguf, options=options_from({"temperature": 0, "num_predict": 60}), n_threads=1,
                    parallel=1, max_queue=1)
    try:
        first = engine.stream(messages(PROMPTS[0]))
        next(first)  # running
        second = engine.stream(messages(PROMPTS[1]))
        started = threading.Event()

        def waiting() -> None:
            started.set()
            list(second)

        thread = threading.Thread(target=waiting)
        thread.start()
        started.wait()
        for _ in range(100):  # until the second request sits in the queue
            if engine.counts()["waiting"] == 1:
                break
            threading.Event().wait(0.05)
        with pytest.raises(Busy, match="queue is full"):
            next(engine.stream(messages(PROMPTS[2])))
        first.close()
        thread.join(timeout=300)
    finally:
        engine.unload()


def test_a_batch_reaches_llama_cpp_in_sequence_order_and_each_sequence_keeps_its_logits(base_gguf: Path):
    """llama.cpp splits a batch wherever sequence ids stop rising by one (each split reads all the
    weights again), so the runtime orders the feeds; every sequence must still get its own row."""
    import numpy as np

    from gemmaiku.runtime.batch import Feed, LlamaRuntime, Sequences

    runtime = LlamaRuntime(str(base_gguf), n_ctx=4 * 256, n_seq=4, n_threads=1)
    try:
        kv = Sequences(runtime)
        prompts = [runtime.model.tokenize(p.encode(), add_bos=True, special=False) for p in PROMPTS]

        def last_logits(order: list[int]) -> dict[int, np.ndarray]:
            for seq in range(4):
                kv.clear(seq)
            feeds = [Feed(seq, token, pos, pos == len(prompts[seq]) - 1)
                     for seq in order for pos, token in enumerate(prompts[seq])]
            step = runtime.decode(feeds)
            fed = [runtime.batch.batch.seq_id[i][0] for i in range(runtime.batch.batch.n_tokens)]
            assert fed == sorted(fed)
            return {seq: step.logits(seq).copy() for seq in order}

        ordered = last_logits([0, 1, 2, 3])
        shuffled = last_logits([2, 0, 3, 1])
        for seq in range(4):
            np.testing.assert_allclose(shuffled[seq], ordered[seq], rtol=0, atol=1e-4)
        assert not np.allclose(ordered[0], ordered[1])  # rows really differ: a mix-up would show
    finally:
        runtime.close()
