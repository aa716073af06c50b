"""The llama-server anchor: its build (driven through a stand-in cmake, so nothing compiles here),
the command that runs it as `serve --parallel` runs our model, and, when it is built, one greedy
request giving the same text through both servers."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from gemmaiku.bench import llama_server
from gemmaiku.bench.llama_server import (
    build,
    build_progress,
    check_toolchain,
    cmake_build_command,
    cmake_configure_command,
    extract_llama_cpp,
    server_command,
)
from gemmaiku.errors import GemmaikuError
from gemmaiku.runtime.options import options_from


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("GEMMAIKU_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def make_sdist(path: Path, *, vendored: bool = True) -> Path:
    """A tarball shaped like llama-cpp-python's sdist (a root folder, vendor/llama.cpp inside)."""
    files = {"llama_cpp_python-0.3.36/pyproject.toml": b"[project]\n"}
    if vendored:
        files["llama_cpp_python-0.3.36/vendor/llama.cpp/CMakeLists.txt"] = b"project(llama.cpp)\n"
        files["llama_cpp_python-0.3.36/vendor/llama.cpp/tools/server/server.cpp"] = b"int main() {}\n"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def fake_cmake(folder: Path, *, configure_status: int = 0) -> Path:
    """A `cmake` that records its calls; `--build` prints Ninja-style progress and makes bin/llama-server."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "cmake"
    script.write_text(f"""#!/bin/sh
echo "$@" >> "{folder}/calls"
if [ "$1" = "--build" ]; then
  echo "[1/2] Building CXX object server.cpp.o"
  mkdir -p "$2/bin" && echo binary > "$2/bin/llama-server" && chmod +x "$2/bin/llama-server"
  echo "[2/2] Linking CXX executable bin/llama-server"
  exit 0
fi
exit {configure_status}
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


# -- building -----------------------------------------------------------------------------------------
def test_configure_is_a_cpu_only_static_release_build_without_network_libraries(tmp_path):
    command = cmake_configure_command(tmp_path / "src", tmp_path / "build")
    for option in ("-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF",
                   "-DGGML_CUDA=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF"):
        assert option in command
    assert cmake_build_command(tmp_path / "build", 1)[-4:] == ["--target", "llama-server", "-j", "1"]


@pytest.mark.parametrize("line,step", [("[12/345] Building CXX object a.o", (12, 345)),
                                       ("[ 45%] Building C object b.o", (45, 100)),
                                       ("-- Configuring done", None)])
def test_build_progress_from_either_generator(line, step):
    assert build_progress(line) == step


def test_only_the_vendored_llama_cpp_is_unpacked(tmp_path):
    root = extract_llama_cpp(make_sdist(tmp_path / "s.tar.gz"), tmp_path / "out")
    assert (root / "tools" / "server" / "server.cpp").is_file()
    assert not (tmp_path / "out" / "llama_cpp_python-0.3.36" / "pyproject.toml").exists()
    with pytest.raises(GemmaikuError, match="has no vendor/llama.cpp"):
        extract_llama_cpp(make_sdist(tmp_path / "bare.tar.gz", vendored=False), tmp_path / "bare")


def test_a_missing_toolchain_is_one_line_naming_what_to_install(monkeypatch):
    monkeypatch.setattr(llama_server.shutil, "which", lambda name: None)
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(GemmaikuError, match=r"needs cmake and c and c\+\+, not found on PATH \(Debian: apt-get"):
        check_toolchain()


def test_build_installs_the_binary_under_the_version_and_reuses_it(tmp_path, home, monkeypatch):
    tools = fake_cmake(tmp_path / "tools")
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(llama_server, "download_sdist", lambda version, folder: make_sdist(folder / "s.tar.gz"))
    binary = build(progress=False)
    assert binary == home / "llama-server" / llama_server.installed_version() / "llama-server"
    assert binary.read_text() == "binary\n"
    record = json.loads((binary.parent / "build.json").read_text())
    assert record["cmake"]["LLAMA_CURL"] == "OFF" and record["jobs"] == 1
    assert not list(binary.parent.parent.glob("*.build"))  # the build folder is gone
    calls = (tools / "calls").read_text().splitlines()
    assert len(calls) == 2 and calls[1].startswith("--build") and calls[1].endswith("--target llama-server -j 1")
    assert build(progress=False) == binary and len((tools / "calls").read_text().splitlines()) == 2  # cached


def test_a_failed_configure_keeps_the_log_and_says_where(tmp_path, home, monkeypatch):
    tools = fake_cmake(tmp_path / "tools", configure_status=1)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(llama_server, "download_sdist", lambda version, folder: make_sdist(folder / "s.tar.gz"))
    with pytest.raises(GemmaikuError, match=r"cmake could not configure llama.cpp \(see .*build.log\)"):
        build(progress=False)
    assert list((home / "llama-server").glob("*.build/build.log"))
    with pytest.raises(GemmaikuError, match="llama-server is not built .* python -m gemmaiku.bench.llama_server build"):
        llama_server.built_binary()


# -- running ------------------------------------------------------------------------------------------
def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_llama_server_runs_the_model_as_serve_parallel_does(tmp_path):
    sampling = options_from({"temperature": 0.0, "seed": 0, "top_k": 40, "repeat_penalty": 1.1}).model_dump()
    command = server_command(tmp_path / "llama-server", tmp_path / "m.gguf", port=8123, threads=2, parallel=4,
                             num_ctx=4096, sampling=sampling, chat_template_file=tmp_path / "t.jinja")
    assert flag(command, "--parallel") == "4" and "--cont-batching" in command
    assert flag(command, "--ctx-size") == str(4 * 4096) and "--no-kv-unified" in command  # a stream per slot
    assert flag(command, "--threads") == flag(command, "--threads-batch") == "2"
    assert "--no-cache-prompt" in command and flag(command, "--cache-ram") == "0"  # every prompt evaluated
    assert "--no-repack" in command  # as our runtime: no extra buffer types
    assert flag(command, "--host") == "127.0.0.1" and flag(command, "--port") == "8123"
    assert flag(command, "--chat-template-file") == str(tmp_path / "t.jinja") and "--jinja" in command
    assert (flag(command, "--temp"), flag(command, "--seed"), flag(command, "--repeat-penalty")) == ("0.0", "0", "1.1")
    assert flag(command, "--min-p") == "0.0" and flag(command, "--top-k") == "40"  # our defaults, not llama.cpp's
    plain = server_command(tmp_path / "s", tmp_path / "m.gguf", port=1, threads=1, parallel=1, num_ctx=2048,
                           sampling={})
    assert "--chat-template-file" not in plain and "--temp" not in plain


STAND_IN_SERVER = """#!{python}
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

args = sys.argv[1:]
with open({record!r}, "w") as f:
    json.dump({{"args": args, "template": open(args[args.index("--chat-template-file") + 1]).read()
               if "--chat-template-file" in args else None}}, f)
if {exit_at_once}:
    sys.exit(3)
health = iter([503, 503])

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(next(health, 200) if self.path == "/health" else 404)
        self.end_headers()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        events = [{{"choices": [{{"delta": {{"content": "Snow "}}}}]}},
                  {{"choices": [{{"delta": {{"content": "falls"}}, "finish_reason": "length"}}]}},
                  {{"choices": [], "usage": {{"prompt_tokens": 9, "completion_tokens": body["max_tokens"]}}}}]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for event in events:
            self.wfile.write(f"data: {{json.dumps(event)}}\\n\\n".encode())
        self.wfile.write(b"data: [DONE]\\n\\n")

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(args[args.index("--port") + 1])), Handler).serve_forever()
"""


def stand_in_server(folder: Path, *, exit_at_once: bool = False) -> Path:
    """A llama-server that records its arguments, answers /health 503 twice then 200, and streams
    a two-piece reply in OpenAI's SSE with usage."""
    import sys

    binary = folder / "llama-server"
    binary.write_text(STAND_IN_SERVER.format(python=sys.executable, record=str(folder / "record.json"),
                                             exit_at_once=exit_at_once))
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    return binary


def test_the_layer_waits_for_health_and_streams_through_the_openai_endpoint(tmp_path):
    from gemmaiku.chat import CHAT_TEMPLATE
    from gemmaiku.evaluate.targets import parse_target
    from tests.serve.conftest import write_tiny_gguf

    binary = stand_in_server(tmp_path)
    model = write_tiny_gguf(tmp_path / "m.gguf")  # no chat template in it
    with llama_server.running(model, threads=1, parallel=4, num_ctx=1024, sampling={"temperature": 0.0},
                              binary=binary) as url:
        reply = parse_target(f"openai:{url}/v1/{llama_server.SERVED_ALIAS}").generate(
            [{"role": "user", "content": "hi"}], {"num_predict": 7})
    assert (reply.text, reply.prompt_tokens, reply.generated_tokens) == ("Snow falls", 9, 7)
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["template"] == CHAT_TEMPLATE  # the format our server falls back to
    assert flag(record["args"], "--ctx-size") == "4096" and flag(record["args"], "--temp") == "0.0"


def test_a_server_that_exits_at_start_is_one_line(tmp_path):
    from tests.serve.conftest import write_tiny_gguf

    binary = stand_in_server(tmp_path, exit_at_once=True)
    with pytest.raises(GemmaikuError, match="llama-server exited with status 3 before serving"), \
            llama_server.running(write_tiny_gguf(tmp_path / "m.gguf"), threads=1, parallel=1, num_ctx=512,
                                 sampling={}, binary=binary):
        pass


@pytest.mark.slow
@pytest.mark.real_model
@pytest.mark.e2e
def test_both_servers_give_the_same_greedy_reply(base_gguf):
    """Same GGUF, template and sampling: llama-server's reply is our server's, token for token."""
    try:
        binary = llama_server.built_binary()
    except GemmaikuError as exc:
        pytest.skip(str(exc))
    from gemmaiku.bench.throughput import gemmaiku_server
    from gemmaiku.evaluate.targets import parse_target

    options = {"temperature": 0.0, "seed": 0, "num_predict": 24}
    messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is a river?"}]
    sampling = options_from(options).model_dump()
    with llama_server.running(base_gguf, threads=1, parallel=2, num_ctx=2048, sampling=sampling,
                              binary=binary) as url:
        theirs = parse_target(f"openai:{url}/v1/{llama_server.SERVED_ALIAS}").generate(messages, options)
    with gemmaiku_server(base_gguf, 1, parallel=2) as url:
        ours = parse_target(f"openai:{url}/v1/bench").generate(messages, options)
    assert theirs.prompt_tokens == ours.prompt_tokens
    assert theirs.text == ours.text and theirs.generated_tokens == ours.generated_tokens
