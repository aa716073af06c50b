"""The scheduler's bounded queue, on a stand-in runtime (no model): requests whose client left
while waiting give their place back at once."""

from __future__ import annotations

import contextlib
import time

import pytest

from gemmaiku.runtime.batch import Busy, Feed, Job, Scheduler, Step


class StandInRuntime:
    """What the scheduler asks of a LlamaRuntime: sequence count, batch size, one decode per step."""

    def __init__(self, n_seq: int) -> None:
        self.n_seq, self.max_batch = n_seq, 8

    def decode(self, feeds) -> Step:
        time.sleep(0.001)
        return Step(self, {})


class NoCache:
    def clear(self, seq: int) -> None:
        pass


class Endless(Job):
    """A request that decodes until it is cancelled."""

    def feeds(self, budget: int) -> list[Feed]:
        return [Feed(self.seqs[0], 0, 0, False)]

    def advance(self, step: Step) -> None:
        pass


@pytest.fixture
def scheduler():
    scheduler = Scheduler(StandInRuntime(n_seq=1), compute=contextlib.nullcontext, max_queue=2)
    scheduler.kv = NoCache()  # before any submit: the scheduler thread only touches it to admit
    yield scheduler
    scheduler.close()


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def start(scheduler, *jobs: Job) -> None:
    """The first job decoding, the others waiting behind it."""
    scheduler.submit(jobs[0])
    assert wait_until(lambda: scheduler.counts()["active"] == 1)
    for job in jobs[1:]:
        scheduler.submit(job)


def test_a_full_queue_refuses_one_more(scheduler):
    start(scheduler, Endless(), Endless(), Endless())
    with pytest.raises(Busy, match="queue is full"):
        scheduler.submit(Endless())


def test_a_request_cancelled_behind_a_waiting_one_gives_its_place_back(scheduler):
    leaving = Endless()
    start(scheduler, Endless(), Endless(), leaving)
    leaving.cancel()  # its client hung up while it waited behind another
    scheduler.submit(Endless())  # refused as Busy when the cancelled request kept its place
    assert scheduler.counts()["waiting"] == 2
    assert leaving.finished
