"""Write outputs to a temporary name beside the target and rename into place.

A crash, a Ctrl-C or a failed check never leaves a partial file or folder at the target path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gemmaiku.errors import GemmaikuError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(tmp: Path, target: Path, mode: int) -> None:
    """mkstemp/mkdtemp create 0600/0700 entries; give the result the usual umask-based mode."""
    os.chmod(tmp, mode & ~_umask())
    os.replace(tmp, target)


def _check_parent_writable(target: Path) -> Path:
    parent = target.parent if str(target.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GemmaikuError(f"cannot create folder {parent}: {exc.strerror} (choose a writable output path)") from None
    if not os.access(parent, os.W_OK):
        raise GemmaikuError(f"cannot write to {parent} (choose a writable output path)")
    return parent


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto ``target``."""
    target = Path(target)
    parent = _check_parent_writable(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _publish(tmp, target, 0o666)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target``."""
    target = Path(target)
    parent = _check_parent_writable(target)
    if target.exists() and not overwrite:
        raise GemmaikuError(f"{target} already exists (remove it or pass --force)")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            _publish(tmp, target, 0o777)
            shutil.rmtree(old, ignore_errors=True)
        else:
            _publish(tmp, target, 0o777)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text_atomic(target: str | os.PathLike[str], text: str) -> Path:
    with atomic_file(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)
