"""Fixtures for fusion: the tiny Gemma 3 folder with a tokenizer beside it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .helpers import add_tiny_tokenizer


@pytest.fixture(scope="session")
def tiny_base(tiny_gemma_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared tiny Gemma 3 copied (never modified in place) with a tokenizer beside it."""
    folder = tmp_path_factory.mktemp("fuse") / "tiny-base"
    shutil.copytree(tiny_gemma_dir, folder)
    add_tiny_tokenizer(folder)
    return folder
