"""Where Gemmaiku keeps its caches and artifacts."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """The cache folder: $GEMMAIKU_HOME, else $XDG_CACHE_HOME/gemmaiku, else ~/.cache/gemmaiku."""
    if env := os.environ.get("GEMMAIKU_HOME"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gemmaiku"
