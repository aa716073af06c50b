"""Where Gemmaiku keeps its caches.

Nothing in the package resolves paths through its own source tree (an installed wheel has none):
package data is read with ``importlib.resources``, and the project's data (``data/``,
``adapters/``) is found in the current folder, a checkout's root, or passed with an option.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

_HASH_LOCK = threading.Lock()


def cache_dir() -> Path:
    """The cache folder: $GEMMAIKU_HOME, else $XDG_CACHE_HOME/gemmaiku, else ~/.cache/gemmaiku."""
    if env := os.environ.get("GEMMAIKU_HOME"):
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gemmaiku"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, cached in the cache folder under (path, size, mtime): hashing a 500 MB
    GGUF takes seconds, too long for a report header or a client's first /api/tags."""
    import contextlib
    import hashlib
    import json

    from gemmaiku.atomic import write_text_atomic
    from gemmaiku.errors import GemmaikuError

    path = Path(path).resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    cache_file = cache_dir() / "sha256-cache.json"
    with _HASH_LOCK:
        try:
            cache = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            cache = {}
        if key not in cache:
            sha = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    sha.update(block)
            cache[key] = sha.hexdigest()
            with contextlib.suppress(OSError, GemmaikuError):  # a read-only cache only costs a re-hash
                write_text_atomic(cache_file, json.dumps(cache, indent=1))
        return cache[key]
