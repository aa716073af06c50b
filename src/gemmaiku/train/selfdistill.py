"""Self-distillation (expert iteration): the model answers new prompts under search decoding, and
the replies that are strict 5-7-5 and clean become training data.

Two steps, so that the slow one never has to be redone:

* ``decode``: every prompt answered twice with the same seed, once by search decoding (the
  candidate reply) and once plainly (what the model does alone: a preference pair's "rejected"
  side when it fails). Rows are appended to ``OUT.partial`` as they come, so an interrupted run
  resumes where it stopped; the file is renamed to OUT when every prompt is done.
* ``filter``: keeps the search replies that pass the strict check and the quality metric, as a
  round file of the distilled set (``data/distill/round<N>.jsonl``), and writes preference pairs
  (clean search reply preferred over a plain reply that misses the count or raises a flag).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from gemmaiku.errors import GemmaikuError

PARTIAL = ".partial"


def stable_seed(prompt_id: str) -> int:
    return int.from_bytes(hashlib.sha256(prompt_id.encode()).digest()[:4], "big")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise GemmaikuError(f"no such file: {path} (give a JSONL file of prompts)")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    raise GemmaikuError(f"{path}:{number}: not JSON (fix or remove the line)") from None
    return rows


def prompts_of(rows: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """(id, category, messages ending with a user turn) from prompt rows or corpus conversations
    (whose final assistant turn is dropped)."""
    for row in rows:
        messages = [dict(m) for m in row["messages"]]
        while messages and messages[-1].get("role") == "assistant":
            messages.pop()
        if not messages or messages[-1].get("role") != "user":
            continue
        key = row.get("id") or hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]
        yield {"id": str(key), "category": row.get("category", ""), "messages": messages}


def done_ids(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    ids = set()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                ids.add(json.loads(line)["id"])
            except (ValueError, KeyError):
                continue  # a line cut by an interruption: decoded again
    return ids


def decode(model: str, prompts: Sequence[dict[str, Any]], out: Path, *, candidates: int, threads: int,
           limit: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Answer every prompt (search and plain), appending rows to OUT.partial; rename when done."""
    from gemmaiku.progress import progress_bars
    from gemmaiku.runtime.cli import engine_for
    from gemmaiku.runtime.guarded import GuardedEngine
    from gemmaiku.runtime.options import options_from

    engine, _modelfile = engine_for(model, {})
    engine.n_threads = threads
    searcher = GuardedEngine(engine, candidates)
    partial = out.with_name(out.name + PARTIAL)
    out.parent.mkdir(parents=True, exist_ok=True)
    finished = done_ids(partial)
    todo = [p for p in prompts if p["id"] not in finished][: limit if limit else None]
    digest = _model_digest(engine.path)
    with open(partial, "a", encoding="utf-8") as sink, progress_bars(progress) as report:
        for done, prompt in enumerate(todo, start=1):
            options = options_from({"seed": stable_seed(prompt["id"])}, base=engine.options)
            searched = searcher.generate(prompt["messages"], options=options)
            plain = engine.generate(prompt["messages"], options=options)
            row = {**prompt, "search": searched.text, "search_extra": dict(searched.extra or {}),
                   "plain": plain.text, "seed": options.seed, "model": {"gguf": engine.path.name, "sha256": digest},
                   "decoder": {"method": "search", "candidates": candidates, "temperature": options.temperature,
                               "repeat_penalty": options.repeat_penalty}}
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
            sink.flush()
            report("distill", done, len(todo))
    complete = len(done_ids(partial)) >= len(prompts)
    if complete:
        os.replace(partial, out)
    return {"decoded": len(todo), "complete": complete, "file": str(out if complete else partial)}


def _model_digest(path: Path) -> str:
    from gemmaiku.paths import file_sha256

    return file_sha256(path)


def verdicts(row: Mapping[str, Any], text: str) -> tuple[bool, bool, list[str]]:
    """(strict, clean, flag kinds) of one reply to the row's conversation."""
    from gemmaiku.prosody.quality import assess

    users = [m["content"] for m in row["messages"] if m.get("role") == "user"]
    systems = [m["content"] for m in row["messages"] if m.get("role") == "system"]
    verdict = assess(text, prompt="\n".join(users), system="\n".join(systems))
    return verdict.strict, verdict.clean, sorted({flag.kind for flag in verdict.flags})


def filter_rows(rows: Iterable[Mapping[str, Any]], round_number: int) -> tuple[list[dict], list[dict], dict]:
    """(round rows, preference pairs, counts): clean search replies, and pairs against failed plain ones."""
    from gemmaiku.data.corpus import chatter

    kept, pairs = [], []
    counts = {"rows": 0, "search_strict": 0, "search_clean": 0, "plain_strict": 0, "plain_clean": 0, "pairs": 0}
    for row in rows:
        counts["rows"] += 1
        strict, clean, flags = verdicts(row, row["search"])
        plain_strict, plain_clean, plain_flags = verdicts(row, row["plain"])
        counts["search_strict"] += strict
        counts["search_clean"] += clean
        counts["plain_strict"] += plain_strict
        counts["plain_clean"] += plain_clean
        reply = row["search"].strip()
        if not clean or chatter(reply):  # the corpus' own chatter rules too (quotes, labels...)
            continue
        kept.append({
            "id": f"r{round_number}-{row['id']}", "prompt_id": row["id"], "category": row.get("category", ""),
            "messages": [*row["messages"], {"role": "assistant", "content": reply}], "source": "model",
            "model": model_name(row["model"]), "decoder": {**row["decoder"], "seed": row["seed"],
                                               "path": row.get("search_extra", {}).get("search", {}).get("path")},
        })
        if not plain_clean and row["plain"].strip() != reply:
            counts["pairs"] += 1
            pairs.append({"id": row["id"], "messages": row["messages"], "chosen": reply,
                          "rejected": row["plain"].strip(), "rejected_flags": plain_flags,
                          "rejected_strict": plain_strict})
    return kept, pairs, counts


def model_name(model: Mapping[str, Any] | str) -> str:
    """The round file's model field: the GGUF's name and its sha256, in one string."""
    return model if isinstance(model, str) else f"{model['gguf']}@sha256:{model['sha256']}"


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    from gemmaiku.atomic import atomic_file

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as target, open(target, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


@click.group()
def distill() -> None:
    """Self-distillation: answer prompts by search decoding, keep the clean haiku.

    \b
    Example:
      gemmaiku distill decode artifacts/Modelfile --prompts data/distill/prompts.jsonl \\
          --out runs/distill/round1.raw.jsonl --threads 1
      gemmaiku distill filter runs/distill/round1.raw.jsonl --round 1 \\
          --out data/distill/round1.jsonl --pairs data/distill/pairs/round1.jsonl
    """


@distill.command("decode")
@click.argument("model")
@click.option("--prompts", "prompts_path", type=click.Path(path_type=Path), required=True,
              help="JSONL of prompts ({id, category, messages}) or a corpus split (its replies dropped).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Raw decoded rows (JSONL).")
@click.option("--candidates", "-k", type=click.IntRange(1, 16), default=4, show_default=True,
              help="Search candidates per line.")
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True)
@click.option("--limit", type=click.IntRange(1), help="Decode at most this many more prompts.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def decode_command(model: str, prompts_path: Path, out: Path, candidates: int, threads: int, limit: int | None,
                   as_json: bool) -> None:
    """Answer every prompt with MODEL (a Modelfile or GGUF), by search decoding and plainly.

    Resumable: rerun the same command after an interruption.

    \b
    Example:
      gemmaiku distill decode artifacts/Modelfile --prompts data/train.jsonl --out runs/distill/train.raw.jsonl
    """
    prompts = list(prompts_of(read_jsonl(prompts_path)))
    summary = decode(model, prompts, out, candidates=candidates, threads=threads, limit=limit)
    click.echo(json.dumps(summary) if as_json else
               f"decoded {summary['decoded']} prompts; {'complete' if summary['complete'] else 'partial'}: "
               f"{summary['file']}")


@distill.command("filter")
@click.argument("raw", type=click.Path(path_type=Path))
@click.option("--round", "round_number", type=click.IntRange(1), required=True, help="Round number (ids).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The round file to write.")
@click.option("--pairs", type=click.Path(path_type=Path), help="Also write preference pairs here.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def filter_command(raw: Path, round_number: int, out: Path, pairs: Path | None, as_json: bool) -> None:
    """Keep the strict, clean search replies of RAW (from `distill decode`) as a round file.

    \b
    Example:
      gemmaiku distill filter runs/distill/round1.raw.jsonl --round 1 --out data/distill/round1.jsonl
    """
    kept, pair_rows, counts = filter_rows(read_jsonl(raw), round_number)
    write_jsonl(out, kept)
    from gemmaiku.data.distill import PROMPTS_FILE, write_manifest

    if (out.parent / PROMPTS_FILE).is_file():  # a round of the distilled set: its hash changes
        write_manifest(out.parent)
    if pairs:
        write_jsonl(pairs, pair_rows)
    counts["kept"] = len(kept)
    click.echo(json.dumps(counts) if as_json else
               f"kept {len(kept)} of {counts['rows']} (search strict {counts['search_strict']}, clean "
               f"{counts['search_clean']}; plain strict {counts['plain_strict']}, clean {counts['plain_clean']}); "
               f"pairs {counts['pairs']}")


def mix(data: Path, rounds: Sequence[Path], out: Path) -> dict[str, Any]:
    """A training folder: the corpus' train split plus distilled rounds (their conversations), the
    corpus' valid split as it is, and a MANIFEST.json recording every source's sha256."""
    from gemmaiku.atomic import atomic_dir

    sources = [data / "train.jsonl", *rounds]
    train_rows: list[dict[str, Any]] = []
    for path in sources:
        for row in read_jsonl(path):
            train_rows.append({"category": row.get("category", ""), "messages": row["messages"],
                               **({"source": row["source"]} if "source" in row else {})})
    valid = data / "valid.jsonl"
    if not valid.is_file():
        raise GemmaikuError(f"no valid.jsonl in {data} (give --data the corpus folder)")
    manifest = {"sources": {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in [*sources, valid]},
                "train_rows": len(train_rows), "valid": str(valid)}
    with atomic_dir(out) as tmp:
        write_jsonl(tmp / "train.jsonl", train_rows)
        (tmp / "valid.jsonl").write_bytes(valid.read_bytes())
        body = "\n".join(f"{h}  {p}" for p, h in manifest["sources"].items())
        manifest["sha256"] = hashlib.sha256(body.encode()).hexdigest()
        (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


@distill.command("mix")
@click.option("--data", type=click.Path(path_type=Path), default=Path("data"), show_default=True,
              help="The corpus folder (train.jsonl, valid.jsonl).")
@click.option("--round", "rounds", type=click.Path(path_type=Path), multiple=True, required=True,
              help="A distilled round file (repeatable).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The training folder to write.")
def mix_command(data: Path, rounds: tuple[Path, ...], out: Path) -> None:
    """Write a training folder: the corpus' train split plus distilled rounds, its valid split.

    \b
    Example:
      gemmaiku distill mix --round data/distill/round1.jsonl --out runs/data-r1
      gemmaiku train --data runs/data-r1 --out runs/r1 --init-adapter adapters/gemmaiku-270m ...
    """
    manifest = mix(data, rounds, out)
    click.echo(f"{manifest['train_rows']} training conversations in {out}/train.jsonl (sha256 {manifest['sha256'][:16]})")


if __name__ == "__main__":
    distill()
