"""Steps of the pipeline, each a small function that reuses its output when inputs are unchanged."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gemmaiku.atomic import write_text_atomic
from gemmaiku.errors import GemmaikuError

SHIPPED_ADAPTER = Path("adapters") / "gemmaiku-270m"  # in a checkout's root, where make run runs
CORPUS = Path("data")
GGUF_NAME = "gemmaiku-270m-{outtype}.gguf"


@dataclass
class Artifacts:
    out: Path
    base: Path | None = None
    adapter: Path | None = None
    fused: Path | None = None
    gguf: Path | None = None
    modelfile: Path | None = None
    check: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def fingerprint(*paths: Path) -> str:
    """A cheap identity of files and folders: names, sizes and modification times."""
    sha = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            stat = file.stat()
            sha.update(f"{file}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return sha.hexdigest()


class StepLog:
    """pipeline.json: what each step was built from, so unchanged steps are skipped."""

    def __init__(self, out: Path) -> None:
        self.path = out / "pipeline.json"
        try:
            self.done: dict[str, str] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.done = {}

    def fresh(self, step: str, key: str, output: Path) -> bool:
        return self.done.get(step) == key and output.exists()

    def record(self, step: str, key: str) -> None:
        self.done[step] = key
        write_text_atomic(self.path, json.dumps(self.done, indent=2) + "\n")


def run_pipeline(
    out: Path,
    *,
    adapter: Path | None = None,
    train: bool = False,
    train_args: dict[str, Any] | None = None,
    outtype: str = "f16",
    check_prompts: int = 9,
    force: bool = False,
    say: Callable[[str], None] = print,
) -> Artifacts:
    from gemmaiku.base import ensure_base

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    steps = StepLog(out)
    if force:
        steps.done = {}
    art = Artifacts(out=out)

    started = time.perf_counter()
    say("1/5 base: Gemma 3 270M from the bundled GGUF, as a float32 Hugging Face folder")
    art.base = ensure_base()
    art.seconds["base"] = round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    if train:
        art.adapter = train_adapter(art.base, out, train_args or {}, say)
    else:
        art.adapter = adapter or SHIPPED_ADAPTER
        say(f"2/5 adapter: {art.adapter}")
    if not (art.adapter / "adapter_config.json").is_file():
        raise GemmaikuError(f"no adapter at {art.adapter} (run from the repository's root, pass --adapter DIR, "
                             "or --train to train one)")
    art.seconds["adapter"] = round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    art.fused = out / "fused"
    key = fingerprint(art.base, art.adapter)
    if steps.fresh("fuse", key, art.fused):
        say(f"3/5 fuse: up to date ({art.fused})")
    else:
        from gemmaiku.fuse import fuse_adapter

        say(f"3/5 fuse: {art.adapter} into the base")
        fuse_adapter(art.base, art.adapter, art.fused, force=True, progress=True)
        steps.record("fuse", key)
    art.seconds["fuse"] = round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    art.gguf = out / GGUF_NAME.format(outtype=outtype)
    key = fingerprint(art.fused) + outtype
    if steps.fresh(f"export-{outtype}", key, art.gguf):
        say(f"4/5 export: up to date ({art.gguf})")
    else:
        from gemmaiku.export import export_gguf

        say(f"4/5 export: {outtype.upper()} GGUF")
        export_gguf(art.fused, art.gguf, outtype, name="gemmaiku-270m")
        steps.record(f"export-{outtype}", key)
    art.seconds["export"] = round(time.perf_counter() - started, 2)

    art.modelfile = write_checked_modelfile(art.gguf, out / "Modelfile")
    say(f"5/5 Modelfile: {art.modelfile} (lint: no warnings)")

    if check_prompts > 0:
        started = time.perf_counter()
        art.check = quick_check(art.modelfile, check_prompts, say)
        art.seconds["check"] = round(time.perf_counter() - started, 2)
    write_text_atomic(out / "artifacts.json", json.dumps(art.to_dict(), indent=2) + "\n")
    return art


def train_adapter(base: Path, out: Path, train_args: dict[str, Any], say: Callable[[str], None]) -> Path:
    from gemmaiku.train.config import TrainConfig
    from gemmaiku.train.loop import train

    target = out / "adapter"
    say(f"2/5 train: LoRA on {CORPUS} -> {target} (Ctrl-C keeps a usable checkpoint)")
    config = TrainConfig(data=str(CORPUS), base=str(base), out=str(target), **train_args)
    train(config, resume=(target / "checkpoint").is_dir(), keep_checkpoint=False)
    return target


def write_checked_modelfile(gguf: Path, path: Path) -> Path:
    from gemmaiku.modelfile import (
        gemmaiku_modelfile,
        lint_modelfile,
        load_modelfile,
        write_modelfile,
    )

    write_modelfile(gemmaiku_modelfile(gguf), path)
    findings = [f for f in lint_modelfile(load_modelfile(path)) if f.severity == "warning"]
    if findings:
        raise GemmaikuError(f"the written Modelfile has lint warnings: {findings[0]}")
    return path


SERVED_CANDIDATES = 4  # what the README's serving command uses: --guard gemmaiku=4


def quick_check(modelfile: Path, count: int, say: Callable[[str], None]) -> dict[str, Any]:
    """One prompt per adversarial category, answered as served (search decoding with the
    Modelfile's settings) and by the raw model alone; every haiku printed whole with its strict
    and clean verdicts, then one line for each."""
    from gemmaiku.evaluate.scoring import judge
    from gemmaiku.evaluate.suite import builtin_suite
    from gemmaiku.modelfile import load_modelfile
    from gemmaiku.runtime import Engine
    from gemmaiku.runtime.guarded import GuardedEngine

    mf = load_modelfile(modelfile)
    engine = Engine.from_modelfile(mf, {"seed": 7})
    arms = {f"served (search, K={SERVED_CANDIDATES})": GuardedEngine(engine, SERVED_CANDIDATES), "raw model": engine}
    prompts, seen = [], set()
    for prompt in builtin_suite():
        if prompt.category not in seen:
            seen.add(prompt.category)
            prompts.append(prompt)
    rows = []
    for prompt in prompts[:count]:
        messages = prompt.with_system(mf.system)
        say(f"   [{prompt.category}] {prompt.text[:70]!r}")
        row: dict[str, Any] = {"category": prompt.category, "prompt": prompt.text[:80]}
        for label, generator in arms.items():
            started = time.perf_counter()
            text = generator.generate(messages).text.strip()
            seconds = time.perf_counter() - started
            verdict = judge(text, prompt=prompt.text, system=mf.system)
            key = "served" if label.startswith("served") else "raw"
            row[key] = {"reply": text, "ok": verdict.ok, "clean": verdict.clean, "seconds": round(seconds, 2),
                        "reasons": verdict.reasons, "flags": [f["kind"] for f in verdict.flags]}
            marks = f"{'strict' if verdict.ok else 'NOT strict'}, {'clean' if verdict.clean else 'NOT clean'}"
            why = "; ".join([*verdict.reasons[:2], *(f["kind"] for f in verdict.flags)])
            say(f"     {label}: {marks} ({seconds:.1f} s){': ' + why if why else ''}")
            for line in text.splitlines() or [""]:
                say(f"       {line}")
        row |= {"reply": row["served"]["reply"], "ok": row["served"]["ok"]}
        rows.append(row)
    engine.unload()
    summary = {key: {"strict": sum(r[key]["ok"] for r in rows), "clean": sum(r[key]["clean"] for r in rows)}
               for key in ("served", "raw")}
    total = len(rows)
    say(f"   quick check: served {summary['served']['strict']}/{total} strict, {summary['served']['clean']}/{total}"
        f" clean; raw model {summary['raw']['strict']}/{total} strict, {summary['raw']['clean']}/{total} clean")
    return {"passed": summary["served"]["strict"], "total": total, "summary": summary, "rows": rows}
