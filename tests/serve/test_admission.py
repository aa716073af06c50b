"""The admission rules on their own: queue room per model, the loaded-model cap (least recently
used idle model first), keep_alive, and models on other servers (nothing to unload)."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import pytest

from gemmaiku.errors import GemmaikuError
from gemmaiku.serve.admission import Admission, ServerBusy, keep_alive_seconds
from gemmaiku.serve.limits import Limits


@dataclass(eq=False)
class Model:
    loaded: bool = False
    parallel: int = 1
    remote: bool = False

    def load(self) -> float:
        self.loaded = True
        return 0.0

    def unload(self) -> None:
        self.loaded = self.remote


def use(admission: Admission, *models: Model) -> None:
    async def run() -> None:
        for model in models:
            ticket = await admission.enter("m", model)
            model.load()
            await admission.leave(ticket)

    anyio.run(run)


def test_the_least_recently_used_idle_model_is_unloaded_over_the_cap():
    admission = Admission(Limits(max_loaded=2))
    a, b, c = Model(), Model(), Model()
    use(admission, a, b, a, c)
    assert (a.loaded, b.loaded, c.loaded) == (True, False, True)
    assert admission.counts() == {"in_flight": 0, "loaded": 2}


def test_a_model_in_use_is_never_unloaded():
    admission = Admission(Limits(max_loaded=1))
    a, b = Model(), Model()

    async def run() -> None:
        held = await admission.enter("a", a)
        a.load()
        use_b = await admission.enter("b", b)
        b.load()
        assert a.loaded  # over the cap for a while: a is busy
        await admission.leave(held)
        assert not a.loaded  # and unloaded as soon as it is idle
        await admission.leave(use_b)

    anyio.run(run)
    assert admission.counts() == {"in_flight": 0, "loaded": 1}


def test_a_full_queue_is_refused():
    admission = Admission(Limits(max_queue=1))
    model = Model(parallel=2)

    async def run() -> None:
        tickets = [await admission.enter("m", model) for _ in range(3)]
        with pytest.raises(ServerBusy, match="3 requests in flight, the most it takes is 3"):
            await admission.enter("m", model)
        for ticket in tickets:
            await admission.leave(ticket)
        await admission.leave(tickets[0])  # twice: counted once
        assert admission.counts()["in_flight"] == 0

    anyio.run(run)


def test_keep_alive_zero_unloads_when_the_request_ends():
    admission = Admission(Limits())
    model = Model()

    async def run() -> None:
        ticket = await admission.enter("m", model, keep_alive="0s")
        model.load()
        await admission.leave(ticket)

    anyio.run(run)
    assert not model.loaded


def test_models_on_other_servers_do_not_count_against_the_cap():
    admission = Admission(Limits(max_loaded=2))
    remote, a, b, c = Model(remote=True), Model(), Model(), Model()
    use(admission, remote, a, b)  # over the cap: the remote (oldest) is tried, stays loaded, no longer counts
    assert a.loaded and b.loaded
    use(admission, c)
    use(admission, remote, a)
    assert remote.loaded and admission.counts()["loaded"] == 2


@pytest.mark.parametrize("value,seconds", [(None, None), (0, 0.0), ("0", 0.0), ("0s", 0.0), (300, 300.0),
                                           ("5m", 300.0), ("1h30m", 5400.0), ("-1", -1.0), ("1.5s", 1.5),
                                           ("300ms", 0.3), (-1, -1.0)])
def test_keep_alive_values(value, seconds):
    assert keep_alive_seconds(value) == pytest.approx(seconds) if seconds is not None else value is None


@pytest.mark.parametrize("value", ["forever", "5 m", "m", True, [], "1x", float("inf")])
def test_bad_keep_alive_values(value):
    with pytest.raises(GemmaikuError, match="bad keep_alive"):
        keep_alive_seconds(value)
