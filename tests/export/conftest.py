"""Export fixtures: llama.cpp's own converter (from the llama-cpp-python sdist) as the reference."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

import pytest

# What the reference needs from the sdist's vendor/llama.cpp/.
CONVERTER_PARTS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")


def _llama_cpp_version() -> str:
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return "0.3.36"


@pytest.fixture(scope="session")
def llama_cpp_converter(gemmaiku_home: Path) -> Path:
    """convert_hf_to_gguf.py of the installed llama-cpp-python's llama.cpp, unpacked once into the
    cache from its sdist (pip download, ~1.5 min the first time). Never part of the project."""
    version = _llama_cpp_version()
    root = gemmaiku_home / "reference" / f"llama.cpp-{version}"
    script = root / "convert_hf_to_gguf.py"
    if script.is_file():
        return script
    download = gemmaiku_home / "reference" / "sdist"
    download.mkdir(parents=True, exist_ok=True)
    archive = download / f"llama_cpp_python-{version}.tar.gz"
    if not archive.is_file():
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             f"llama-cpp-python=={version}", "-d", str(download)],
            capture_output=True, text=True,
        )
        if result.returncode != 0 or not archive.is_file():
            pytest.skip(f"cannot download the llama-cpp-python {version} sdist: {result.stderr.strip()[-300:]}")
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    staging = root.with_name(root.name + ".partial")
    with tarfile.open(archive) as tar:
        members = []
        for member in tar.getmembers():
            if member.name.startswith(prefix):
                rel = member.name[len(prefix):]
                if rel and any(rel == part or rel.startswith(part) for part in CONVERTER_PARTS):
                    member.name = rel
                    members.append(member)
        tar.extractall(staging, members=members, filter="data")
    staging.rename(root)
    return script
