"""Layers run one way: a stage imports only stages below it, and light verbs load no web server."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "gemmaiku"

# The library stages, lowest first. A stage may import the shared top-level modules (errors,
# atomic, chat, paths, progress, options) and stages of a lower rank, never one of its own rank
# or above, nor an application (data, train, evaluate, bench, pipeline: unranked, they use all).
RANK = {"prosody": 1, "base": 1, "fuse": 2, "export": 2, "modelfile": 2, "runtime": 3, "router": 4, "serve": 5}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return {name.split(".")[1] for name in found if name.startswith("gemmaiku.") and name.count(".") >= 1}


def test_library_stages_import_only_lower_stages():
    shared = {p.stem for p in SRC.glob("*.py")}
    wrong = []
    for stage, rank in RANK.items():
        for path in (SRC / stage).rglob("*.py"):
            for target in _imports(path) - {stage} - shared:
                if RANK.get(target, 99) >= rank:
                    wrong.append(f"{path.relative_to(SRC)} imports gemmaiku.{target}")
    assert not wrong, "\n".join(wrong)


def _loaded_after(args: list[str]) -> set[str]:
    code = ("import sys\nfrom gemmaiku.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('MODULES=' + ' '.join(sorted(sys.modules)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          input="An old silent pond\nA frog jumps into the pond\nSplash! Silence again\n")
    line = next(line for line in done.stderr.splitlines() if line.startswith("MODULES="))
    return set(line.removeprefix("MODULES=").split())


def test_help_imports_no_verb():
    loaded = _loaded_after(["--help"])
    assert not {m for m in loaded if m.startswith("gemmaiku.") and m.count(".") >= 1} - {
        "gemmaiku.cli", "gemmaiku.errors"}


@pytest.mark.parametrize("args", [["count", "hello"], ["route", "write me a poem"], ["check", "-"]])
def test_light_verbs_load_no_web_framework_or_llama_cpp(args):
    loaded = _loaded_after(args)
    assert not loaded & {"fastapi", "starlette", "uvicorn", "llama_cpp", "torch", "gemmaiku.serve"}


def _module_graph() -> dict[str, set[str]]:
    """Module -> the gemmaiku modules it imports anywhere (at the top or inside a function)."""
    modules = {".".join(p.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                subs = {f"{node.module}.{alias.name}" for alias in node.names} & modules.keys()
                deps |= subs or {node.module}  # `from package import submodule` needs the submodule
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path start -> ... -> start, if any."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in graph[node]:
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


@pytest.mark.parametrize("module", ["gemmaiku.data.build", "gemmaiku.data.check", "gemmaiku.modelfile.parser",
                                    "gemmaiku.modelfile.prompt", "gemmaiku.router.model", "gemmaiku.cli"])
def test_no_import_cycle_through(module):
    graph = _module_graph()
    cycle = _cycle_through(graph, module)
    assert cycle is None, " -> ".join(cycle or [])


def test_nothing_in_the_package_resolves_paths_through_its_source_tree():
    """An installed wheel has no checkout around it: package data goes through importlib.resources."""
    found = [f"{path.relative_to(SRC)}" for path in SRC.rglob("*.py") if "__file__" in path.read_text(encoding="utf-8")]
    assert not found, found


def test_package_data_is_found_as_resources():
    from gemmaiku.evaluate.suite import builtin_suite
    from gemmaiku.router.model import SHIPPED_ROUTER, load_router

    assert len(builtin_suite()) >= 100 and load_router(SHIPPED_ROUTER).decide("write me a poem").label
