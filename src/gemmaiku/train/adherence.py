"""A quick adherence figure for a trained adapter: greedy replies to test prompts, checked 5-7-5.

    python -m gemmaiku.train.adherence --adapter adapters/gemmaiku-270m [--n 60] [--json]

For each of the first N conversations of data/test.jsonl (its order is a content hash, so the first
N are an unbiased sample), the model answers the last user turn (earlier turns and their reference
replies as context) with greedy decoding through transformers, and the reply is checked with
``gemmaiku.prosody.check_haiku`` in strict mode. ``--no-adapter`` measures the base model alone.
This is a training-time sanity figure; the evaluation stage (`gemmaiku eval`) is the full measure.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from gemmaiku.chat import render_chat


def prompt_messages(messages: list[dict]) -> list[dict]:
    """The conversation up to (without) its last assistant reply."""
    return messages[: max(i for i, m in enumerate(messages) if m["role"] == "assistant")]


def generate_reply(model, tokenizer, messages: list[dict], max_new_tokens: int) -> str:
    import torch

    text = render_chat(messages, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    end = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=[end, tokenizer.eos_token_id],
            pad_token_id=tokenizer.pad_token_id,
        )
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()


def adherence(
    base: Path, adapter: Path | None, test: Path, n: int, max_new_tokens: int = 48, threads: int = 0
) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gemmaiku.prosody import check_haiku

    if threads:
        torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    rows = [
        json.loads(line) for line in test.read_text(encoding="utf-8").splitlines() if line.strip()
    ][:n]
    results = []
    started = time.monotonic()
    for row in rows:
        reply = generate_reply(model, tokenizer, prompt_messages(row["messages"]), max_new_tokens)
        verdict = check_haiku(reply, strict=True)
        results.append(
            {
                "category": row.get("category"),
                "ok": verdict.ok,
                "reply": reply,
                "failures": [f.code for f in verdict.failures],
            }
        )
    per_category: dict[str, list[int]] = {}
    for r in results:
        per_category.setdefault(r["category"], [0, 0])
        per_category[r["category"]][0] += r["ok"]
        per_category[r["category"]][1] += 1
    passed = sum(r["ok"] for r in results)
    return {
        "adapter": str(adapter) if adapter else None,
        "n": len(results),
        "passed": passed,
        "adherence": round(passed / len(results), 4) if results else 0.0,
        "per_category": {k: f"{ok}/{total}" for k, (ok, total) in sorted(per_category.items())},
        "failure_codes": dict(Counter(code for r in results for code in r["failures"])),
        "seconds": round(time.monotonic() - started, 1),
        "samples": results,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base", type=Path, default=None, help="HF base folder [the cached bundled 270M]"
    )
    parser.add_argument("--adapter", type=Path, default=Path("adapters/gemmaiku-270m"))
    parser.add_argument("--no-adapter", action="store_true", help="measure the base model alone")
    parser.add_argument("--test", type=Path, default=Path("data/test.jsonl"))
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.base is None:
        from gemmaiku.base import ensure_base

        args.base = ensure_base(progress=False)
    report = adherence(
        args.base,
        None if args.no_adapter else args.adapter,
        args.test,
        args.n,
        args.max_new_tokens,
        args.threads,
    )
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    for sample in report["samples"]:
        mark = "ok " if sample["ok"] else "BAD"
        print(f"{mark} [{sample['category']}] {sample['reply']!r}")
    print(
        f"adherence {report['passed']}/{report['n']} = {report['adherence']:.1%} (strict 5-7-5, greedy, {report['seconds']} s)"
    )
    print("per category: " + ", ".join(f"{k} {v}" for k, v in report["per_category"].items()))


if __name__ == "__main__":
    main()
