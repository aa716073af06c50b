"""Outputs appear whole or not at all, with ordinary permissions."""

import os
import stat

import pytest

from gemmaiku.atomic import atomic_dir, atomic_file, write_text_atomic
from gemmaiku.errors import GemmaikuError


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_file_appears_only_on_success_with_umask_mode(tmp_path):
    target = tmp_path / "out.gguf"
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    write_text_atomic(target, "whole")
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_text() == "whole" and mode(target) == 0o666 & ~umask


def test_dir_replaces_the_old_one_whole(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(KeyboardInterrupt), atomic_dir(target) as tmp:
        (tmp / "b").write_text("2")
        raise KeyboardInterrupt
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    with atomic_dir(target) as tmp:
        (tmp / "c").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c"]
    umask = os.umask(0)
    os.umask(umask)
    assert mode(target) == 0o777 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_unwritable_parent_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(GemmaikuError, match="cannot create folder"), atomic_file(blocker / "out.txt"):
        pass
