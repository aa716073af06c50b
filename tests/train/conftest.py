"""Fixtures for training tests: the tiny Gemma 3 with a character tokenizer, and a tiny corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from train_helpers import CONVERSATIONS, with_tokenizer


@pytest.fixture(scope="session")
def chat_model_dir(tiny_gemma_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Gemma 3 plus a character tokenizer: a base folder `train` accepts."""
    return with_tokenizer(tiny_gemma_dir, tmp_path_factory.mktemp("chat-model") / "base")


@pytest.fixture()
def tiny_corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, rows in (("train", CONVERSATIONS), ("valid", CONVERSATIONS[:2])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder
