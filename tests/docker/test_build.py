"""docker/build.py: build order, content keys (what triggers a rebuild), build contexts, and the
cache on real images (skipped without a Docker daemon, except under CI)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gemmaiku.errors import GemmaikuError
from tests import REPO_ROOT


def load_build():
    spec = importlib.util.spec_from_file_location("gemmaiku_docker_build", REPO_ROOT / "docker" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


build = load_build()


def test_parents_are_built_first():
    assert build.with_parents(["serve"]) == ["base", "serve"]
    assert build.with_parents(["open-webui", "serve", "base"]) == ["base", "open-webui", "serve"]
    assert build.with_parents(list(build.IMAGES))[0] == "base"


def inputs(tmp_path, wheel=b"wheel-1", ca=b"ca-1", dockerfile="FROM x\n"):
    """An image's inputs folder as build() lays it out: context/ (sent to docker) and served/."""
    (tmp_path / "context").mkdir(exist_ok=True)
    (tmp_path / "served").mkdir(exist_ok=True)
    (tmp_path / "context" / "Dockerfile").write_text(dockerfile)
    (tmp_path / "served" / "torch-2.13.0+cpu-cp311.whl").write_bytes(wheel)
    (tmp_path / "served" / "ca.crt").write_bytes(ca)
    return tmp_path


def test_inputs_key_follows_what_is_built(tmp_path):
    key = build.inputs_key("parent-1", inputs(tmp_path), {"V": "1"})
    assert build.inputs_key("parent-1", inputs(tmp_path, ca=b"another CA"), {"V": "1"}) == key
    assert build.inputs_key("parent-1", inputs(tmp_path, wheel=b"wheel-2"), {"V": "1"}) != key
    assert build.inputs_key("parent-1", inputs(tmp_path, dockerfile="FROM y\n"), {"V": "1"}) != key
    assert build.inputs_key("parent-2", inputs(tmp_path), {"V": "1"}) != key
    assert build.inputs_key("parent-1", inputs(tmp_path), {"V": "2"}) != key
    assert build.inputs_key("parent-1", inputs(tmp_path), {"V": "1"}) == key


def test_base_key_follows_the_recipe(monkeypatch):
    key = build.base_key()
    assert build.base_key() == key
    monkeypatch.setitem(build.BASE_RECIPE, "include", [*build.BASE_RECIPE["include"], "curl"])
    assert build.base_key() != key


def fake_pip_download(wheel_name):
    def fake_pip(*args):
        folder = args[args.index("-d") + 1]
        (Path(folder) / wheel_name).write_bytes(b"w")

    return fake_pip


def test_open_webui_inputs_pin_the_cpu_torch(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "_host_pip", fake_pip_download("torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"))
    served = inputs(tmp_path) / "served"
    assert build.open_webui_inputs(tmp_path / "context", served) == {"OPEN_WEBUI_VERSION": "0.12.4"}
    assert (served / "constraints.txt").read_text() == "torch==2.13.0+cpu\n"
    assert (served / "ca.crt").read_bytes() == build.pip_ca_bundle().read_bytes()


def test_open_webui_inputs_refuse_a_cuda_torch(tmp_path, monkeypatch):
    (tmp_path / "served").mkdir()
    monkeypatch.setattr(build, "_host_pip", fake_pip_download("torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl"))
    with pytest.raises(GemmaikuError, match="not torch's CPU build"):
        build.open_webui_inputs(tmp_path / "context", tmp_path / "served")


def test_served_files_reach_a_client_on_loopback(tmp_path):
    import httpx

    (tmp_path / "constraints.txt").write_text("torch==2.13.0+cpu\n")
    with build.served_on_loopback(tmp_path) as url:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/constraints.txt").text == "torch==2.13.0+cpu\n"
        assert "constraints.txt" in httpx.get(f"{url}/").text  # the listing pip's --find-links reads
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/constraints.txt", timeout=2)
    with build.served_on_loopback(tmp_path) as again:
        assert again == url  # same files, same URL: Docker's layer cache keys on it


def test_pip_ca_bundle_is_the_hosts(tmp_path, monkeypatch):
    bundle = tmp_path / "corporate.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("PIP_CERT", str(bundle))
    assert build.pip_ca_bundle() == bundle
    monkeypatch.setenv("PIP_CERT", str(tmp_path / "missing.pem"))
    assert build.pip_ca_bundle().is_file()


def test_no_docker_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    with pytest.raises(GemmaikuError, match="docker is not installed .*make docker-tools"):
        build.check_docker()
    result = CliRunner().invoke(build.main, ["base"])
    assert result.exit_code == 2 and "images: error: docker is not installed" in result.output
    assert "Traceback" not in result.output


def test_help_has_an_example():
    result = CliRunner().invoke(build.main, ["--help"])
    assert result.exit_code == 0 and "python docker/build.py open-webui" in result.output


def docker_running() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0 if build.shutil.which("docker") else False


@pytest.mark.slow
@pytest.mark.e2e
def test_unchanged_inputs_are_not_rebuilt():
    """The second build of the same inputs finds every image up to date (content cache)."""
    if not docker_running():
        if os.environ.get("CI") == "true":
            pytest.fail("under CI the Docker daemon must run (.ci/run starts it)", pytrace=False)
        pytest.skip("no Docker daemon")
    build.build(["open-webui"], progress=False)  # builds only if `make images` has not
    again = build.build(["open-webui"], progress=False)
    assert [(r["image"], r["status"]) for r in again] == [("base", "cached"), ("open-webui", "cached")]
    labels = {r["image"]: build.image_key(r["tag"]) for r in again}
    assert labels == {r["image"]: r["inputs"] for r in again}
    assert all(r["size_bytes"] > 0 for r in again)
