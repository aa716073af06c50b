"""llama.cpp's own ``llama-server``: the anchor that `gemmaiku bench throughput` measures us against.

It is built from the llama.cpp that llama-cpp-python vendors, at the version installed here, so
both servers run the same kernels:

1. the llama-cpp-python sdist of that version, from pip's cache or PyPI (``pip download``);
2. its ``vendor/llama.cpp`` configured with cmake: CPU only, Release, static, no network
   libraries, no web UI (:data:`CMAKE_OPTIONS`);
3. the ``llama-server`` target alone, with ``--jobs`` compilers (1 by default: the build shares
   the machine), the binary kept in ``$GEMMAIKU_HOME/llama-server/VERSION/``.

Then :func:`running` starts it on a free loopback port with the settings of a
``gemmaiku serve --parallel N`` (one KV stream of ``num_ctx`` cells per slot, the same sampling
defaults and chat template, no prompt cache, no weight repacking) and waits for ``/health``.

    taskset -c 1 python -m gemmaiku.bench.llama_server build      # about 20 min on one core
    python -m gemmaiku.bench.llama_server path                    # where the binary is
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from gemmaiku.errors import GemmaikuError

PACKAGE = "llama-cpp-python"
START_TIMEOUT_S = 120.0
SERVED_ALIAS = "bench"
BUILD_HINT = "taskset -c 1 python -m gemmaiku.bench.llama_server build"

# cmake -D options: a CPU-only Release build of the server alone, static so the binary runs from
# the cache without the build tree, offline (no TLS or curl for model downloads, no web UI to fetch).
CMAKE_OPTIONS: dict[str, str] = {
    "CMAKE_BUILD_TYPE": "Release",
    "BUILD_SHARED_LIBS": "OFF",
    "GGML_NATIVE": "ON",  # as llama-cpp-python's own build (-march=native)
    "GGML_CUDA": "OFF",
    "GGML_METAL": "OFF",
    "GGML_VULKAN": "OFF",
    "LLAMA_CURL": "OFF",
    "LLAMA_OPENSSL": "OFF",
    "LLAMA_BUILD_TESTS": "OFF",
    "LLAMA_BUILD_EXAMPLES": "OFF",
    "LLAMA_BUILD_TOOLS": "ON",  # the server lives under tools/
    "LLAMA_BUILD_SERVER": "ON",
    "LLAMA_BUILD_UI": "OFF",
    "LLAMA_USE_PREBUILT_UI": "OFF",
}
TARGET = "llama-server"

# Ollama option -> llama-server flag: the server's sampling defaults, set to what our server uses.
SAMPLING_FLAGS: dict[str, str] = {
    "temperature": "--temp",
    "top_k": "--top-k",
    "top_p": "--top-p",
    "min_p": "--min-p",
    "typical_p": "--typical",
    "repeat_penalty": "--repeat-penalty",
    "repeat_last_n": "--repeat-last-n",
    "presence_penalty": "--presence-penalty",
    "frequency_penalty": "--frequency-penalty",
    "seed": "--seed",
}

# Progress lines of the two cmake generators: Ninja's "[12/345] ..." and Make's "[ 45%] ...".
NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]")
MAKE_PERCENT = re.compile(r"^\[\s*(\d+)%\]")


# -- where things are -----------------------------------------------------------------------------
def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        raise GemmaikuError(f"{PACKAGE} is not installed (pip install {PACKAGE})") from None


def install_dir(version: str) -> Path:
    from gemmaiku.paths import cache_dir

    return cache_dir() / "llama-server" / version


def binary_path(version: str | None = None) -> Path:
    return install_dir(version or installed_version()) / TARGET


def built_binary(version: str | None = None) -> Path:
    """The cached binary for the installed llama-cpp-python; an error saying how to build it."""
    path = binary_path(version)
    if not path.is_file():
        raise GemmaikuError(f"llama-server is not built for {PACKAGE} {version or installed_version()} "
                            f"(run: {BUILD_HINT})")
    return path


# -- building -------------------------------------------------------------------------------------
def check_toolchain() -> dict[str, str]:
    """cmake and a C/C++ compiler, or one line saying what to install."""
    found = {"cmake": shutil.which("cmake"),
             "c": os.environ.get("CC") or _first_on_path("cc", "gcc", "clang"),
             "c++": os.environ.get("CXX") or _first_on_path("c++", "g++", "clang++")}
    missing = [name for name, path in found.items() if not path]
    if missing:
        raise GemmaikuError(f"building llama-server needs {' and '.join(missing)}, not found on PATH "
                            "(Debian: apt-get install cmake g++; or pip install cmake)")
    return {name: str(path) for name, path in found.items()}


def _first_on_path(*names: str) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


def cmake_configure_command(source: Path, build: Path) -> list[str]:
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    return ["cmake", "-S", str(source), "-B", str(build), *generator,
            *(f"-D{key}={value}" for key, value in CMAKE_OPTIONS.items())]


def cmake_build_command(build: Path, jobs: int) -> list[str]:
    return ["cmake", "--build", str(build), "--config", "Release", "--target", TARGET, "-j", str(jobs)]


def build_progress(line: str) -> tuple[int, int] | None:
    """(done, total) from one line of cmake's build output, if it says."""
    if match := NINJA_STEP.match(line):
        return int(match.group(1)), int(match.group(2))
    if match := MAKE_PERCENT.match(line):
        return int(match.group(1)), 100
    return None


def download_sdist(version: str, folder: Path) -> Path:
    """The sdist of ``version``, through pip (its cache first, then the index)."""
    command = [sys.executable, "-m", "pip", "download", f"{PACKAGE}=={version}", "--no-deps",
               "--no-binary", ":all:", "--dest", str(folder), "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True)
    found = sorted(folder.glob("llama_cpp_python-*.tar.gz"))
    if result.returncode != 0 or not found:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise GemmaikuError(f"pip could not download the {PACKAGE} {version} sdist: {' / '.join(tail)} "
                            "(check the network or pip's index settings)")
    return found[0]


def extract_llama_cpp(sdist: Path, folder: Path) -> Path:
    """Unpack only the sdist's ``vendor/llama.cpp`` into ``folder``; return its root."""
    import tarfile

    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if "/vendor/llama.cpp/" in f"{m.name}/"]
        if not members:
            raise GemmaikuError(f"{sdist.name} has no vendor/llama.cpp (is it a {PACKAGE} sdist?)")
        archive.extractall(folder, members=members, filter="data")
    roots = sorted(folder.glob("*/vendor/llama.cpp"))
    return roots[0]


def run_logged(command: Sequence[str], log: Any, on_line: Any = None) -> int:
    """Run ``command``, its output appended to ``log``; each line also goes to ``on_line``."""
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace")
    assert process.stdout is not None
    for line in process.stdout:
        log.write(line)
        log.flush()
        if on_line is not None:
            on_line(line)
    return process.wait()


def build(*, jobs: int = 1, force: bool = False, progress: bool = True) -> Path:
    """Build (or find) llama-server for the installed llama-cpp-python; return the binary.

    The build folder is kept on failure (a second run resumes it) and removed on success."""
    from gemmaiku.atomic import atomic_dir
    from gemmaiku.progress import progress_bars

    version = installed_version()
    target = install_dir(version)
    if (target / TARGET).is_file() and not force:
        return target / TARGET
    tools = check_toolchain()
    work = target.with_name(f"{version}.build")
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "build.log"
    labels = {"sdist": f"{PACKAGE} {version} sdist", "configure": "cmake configure", "compile": f"compile {TARGET}"}
    with open(log_path, "a", encoding="utf-8") as log, progress_bars(progress, labels) as report:
        report("sdist", 0, 1)
        source = next(iter(sorted(work.glob("*/vendor/llama.cpp"))), None)
        if source is None:
            with tempfile.TemporaryDirectory(dir=work) as downloads:
                source = extract_llama_cpp(download_sdist(version, Path(downloads)), work)
        report("sdist", 1, 1)
        report("configure", 0, 1)
        if run_logged(cmake_configure_command(source, work / "build"), log) != 0:
            raise GemmaikuError(f"cmake could not configure llama.cpp (see {log_path})")
        report("configure", 1, 1)

        def compiled(line: str) -> None:
            if step := build_progress(line):
                report("compile", *step)

        if run_logged(cmake_build_command(work / "build", jobs), log, compiled) != 0:
            raise GemmaikuError(f"compiling llama-server failed (see the end of {log_path})")
    made = next((p for p in (work / "build" / "bin").glob(TARGET) if p.is_file()), None)
    if made is None:
        raise GemmaikuError(f"the build ended without bin/{TARGET} (see {log_path})")
    with atomic_dir(target) as folder:
        shutil.copy2(made, folder / TARGET)
        (folder / "build.json").write_text(json.dumps(
            {"package": PACKAGE, "version": version, "cmake": CMAKE_OPTIONS, "jobs": jobs, "toolchain": tools,
             "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return target / TARGET


# -- running --------------------------------------------------------------------------------------
def server_command(binary: Path, model: Path, *, port: int, threads: int, parallel: int, num_ctx: int,
                   sampling: Mapping[str, Any], chat_template_file: Path | None = None) -> list[str]:
    """llama-server as `gemmaiku serve --parallel N` runs the model: ``parallel`` slots, each its
    own KV stream of ``num_ctx`` cells (no unified cache), continuous batching, the same sampling
    defaults, no prompt cache (every request evaluates its whole prompt, as ours do) and no
    weight repacking (our runtime turns llama.cpp's extra buffer types off)."""
    command = [str(binary), "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
               "--alias", SERVED_ALIAS, "--threads", str(threads), "--threads-batch", str(threads),
               "--parallel", str(parallel), "--cont-batching", "--ctx-size", str(parallel * num_ctx),
               "--no-kv-unified", "--no-cache-prompt", "--cache-ram", "0", "--no-repack", "--no-webui",
               "--jinja"]
    if chat_template_file is not None:
        command += ["--chat-template-file", str(chat_template_file)]
    for name, flag in SAMPLING_FLAGS.items():
        if name in sampling and sampling[name] is not None:
            command += [flag, str(sampling[name])]
    return command


def has_chat_template(model: Path) -> bool:
    from gemmaiku.base.gguf_io import open_gguf

    return bool(open_gguf(model).metadata.get("tokenizer.chat_template"))


@contextlib.contextmanager
def running(model: Path, *, threads: int, parallel: int, num_ctx: int, sampling: Mapping[str, Any],
            binary: Path | None = None, log: Path | None = None) -> Iterator[str]:
    """llama-server on a free loopback port; yields its base URL once /health says ready.

    A GGUF without a chat template gets Gemmaiku's (the format our server falls back to)."""
    from gemmaiku.chat import CHAT_TEMPLATE
    from gemmaiku.serve.webui import free_port

    binary = binary or built_binary()
    with tempfile.TemporaryDirectory(prefix="gemmaiku-llama-server-") as folder:
        template = None
        if not has_chat_template(model):
            template = Path(folder) / "chat_template.jinja"
            template.write_text(CHAT_TEMPLATE, encoding="utf-8")
        port = free_port()
        command = server_command(binary, model, port=port, threads=threads, parallel=parallel, num_ctx=num_ctx,
                                 sampling=sampling, chat_template_file=template)
        sink = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, process, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if log:
                sink.close()  # type: ignore[union-attr]


def wait_ready(url: str, process: subprocess.Popen, log: Path | None) -> None:
    """/health answers 503 while the model loads and 200 once it can serve."""
    import httpx

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise GemmaikuError(f"llama-server exited with status {process.returncode} before serving "
                                f"(see {log or 'its output: pass a log path'})")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise GemmaikuError(f"llama-server did not become ready within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


# -- command line ---------------------------------------------------------------------------------
@click.group()
def cli() -> None:
    """llama.cpp's llama-server, built from llama-cpp-python's vendored llama.cpp (the benchmark's anchor)."""


@cli.command("build")
@click.option("--jobs", "-j", type=click.IntRange(1), default=1, show_default=True,
              help="Compilers run at once (the machine is shared: 1 by default).")
@click.option("--force", is_flag=True, help="Rebuild even if the binary is cached.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def build_command(jobs: int, force: bool, quiet: bool) -> None:
    """Build llama-server for the installed llama-cpp-python (cached; prints the binary's path).

    \b
    Example:
      taskset -c 1 python -m gemmaiku.bench.llama_server build
    """
    click.echo(build(jobs=jobs, force=force, progress=not quiet))


@cli.command("path")
def path_command() -> None:
    """Print the cached binary's path (an error if it is not built).

    \b
    Example:
      $(python -m gemmaiku.bench.llama_server path) --help
    """
    click.echo(built_binary())


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="python -m gemmaiku.bench.llama_server", standalone_mode=False)
    except GemmaikuError as exc:
        if os.environ.get("GEMMAIKU_DEBUG"):
            raise
        click.echo(f"gemmaiku: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("gemmaiku: interrupted (the build folder is kept: run build again to resume)", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
