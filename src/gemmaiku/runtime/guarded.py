"""Guarded generation: what ``gemmaiku serve --guard NAME=K`` serves for a haiku model.

A guarded model answers through search decoding (runtime.search): each line is chosen among K
metered candidates by the model's own log-probability of the line and of its break, lines that
dangle or end on a fragment dropped, widened to 2K candidates when none qualifies. The final
chunk carries ``extra["search"]``: the path (search, widened, meter, closest) and per-line scores.
"""

from __future__ import annotations

from gemmaiku.errors import GemmaikuError
from gemmaiku.runtime.engine import Engine
from gemmaiku.runtime.search import SearchEngine, SearchSettings


class GuardedEngine(SearchEngine):
    """Search decoding with ``candidates`` per line (and twice as many when widening)."""

    def __init__(self, engine: Engine, candidates: int = 4) -> None:
        if candidates < 1:
            raise GemmaikuError(f"guarded generation needs at least 1 candidate per line, got {candidates}")
        if not isinstance(engine, Engine):
            raise GemmaikuError("guarded generation needs a local GGUF model (not a remote one): "
                                "serve the GGUF itself to guard it")
        super().__init__(engine, SearchSettings(candidates=candidates, widen_candidates=2 * candidates))
