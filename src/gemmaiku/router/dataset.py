"""Build the router's labelled prompt set: hand-written prompts plus chat front-end background
tasks composed from them.

``data/router/handwritten.jsonl`` holds prompts written for this project, labelled by the policy
in :mod:`gemmaiku.router.policy`. Front-ends such as Open WebUI also send *background tasks*
(title, tags, follow-up suggestions) as one user message: a task header, guidelines, a JSON output
spec and the chat history. We compose such prompts in our own wording and structure around
histories made from the hand-written prompts, so the model learns them too (the rule in
policy.py also catches them). Run ``python -m gemmaiku.router.dataset`` to rebuild prompts.jsonl.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from gemmaiku.atomic import write_text_atomic

ROUTER_DIR = Path("data") / "router"  # in a checkout's root

TASKS = {
    "task_title": [
        ("Generate a concise title summarizing the chat history.",
         ["Keep it short: 2-5 words.", "No quotation marks or emojis.", "Use the chat's language."],
         '{ "title": "your concise title here" }'),
        ("Create a short, descriptive title for this conversation.",
         ["Title case.", "At most six words.", "Reply with JSON only, no extra text."],
         '{ "title": "..." }'),
        ("Write a 3-5 word title with an emoji that captures the main topic.",
         ["Put the emoji first.", "Be accurate rather than creative."],
         '{ "title": "📌 Topic Here" }'),
    ],
    "task_tags": [
        ("Generate 1-3 broad tags categorizing the main themes of the chat history, plus 1-3 specific subtopic tags.",
         ["Start with high-level domains such as Science, Arts, Technology.", "Use only General when unsure."],
         '{ "tags": ["tag1", "tag2", "tag3"] }'),
        ("Classify this conversation with a few topic tags.",
         ["Lowercase tags.", "No more than four tags.", "Output a JSON object only."],
         '{ "tags": ["..."] }'),
    ],
    "task_followup": [
        ("Suggest 3-5 follow-up messages the user might send next.",
         ["Write from the user's point of view.", "Keep each under 100 characters.", "No numbering."],
         '{ "follow_ups": ["...", "...", "..."] }'),
        ("Predict useful next questions the user could ask to go deeper.",
         ["Be concrete.", "Do not repeat what was answered.", "JSON only."],
         '{ "follow_ups": ["question 1", "question 2", "question 3"] }'),
    ],
    "task_query": [
        ("Generate 1-3 search queries that would help answer the user's latest question.",
         ["Queries must be short.", "Return an empty list if no search is needed."],
         '{ "queries": ["query1", "query2"] }'),
    ],
}

REPLIES = [
    "Rain on the tin roof\nthe kettle hums to itself\nsteam fogs the window",
    "Here is a function that does it: def f(xs): return sorted(xs)",
    "The answer is 391.",
    "Snow on the cedar\na crow shakes loose the silence\nmorning in one note",
    "Paris is the capital of France.",
    "Sure, here are three ideas: oats, eggs, fruit.",
]


def task_prompt(kind: str, history: list[tuple[str, str]], rng: random.Random) -> str:
    task, guidelines, output = rng.choice(TASKS[kind])
    chat = "\n".join(f"{role.upper()}: {text}" for role, text in history)
    heading = rng.choice(["### Chat History:\n<chat_history>\n{}\n</chat_history>",
                          "### Chat History:\n<chat_history>\n{}\n</chat_history>\n"])
    lines = ["### Task:", task, "### Guidelines:", *(f"- {g}" for g in guidelines),
             "### Output:", f"JSON format: {output}", heading.format(chat)]
    return "\n".join(lines)


def build(handwritten: Path = ROUTER_DIR / "handwritten.jsonl", out: Path = ROUTER_DIR / "prompts.jsonl",
          per_kind: int = 30, seed: int = 7) -> Path:
    rows = [json.loads(line) for line in handwritten.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = random.Random(seed)
    users = [row["text"] for row in rows if len(row["text"]) < 300]
    tasks = []
    for kind in TASKS:
        for _ in range(per_kind):
            turns = rng.choice([1, 1, 2])
            history = []
            for _ in range(turns):
                history += [("user", rng.choice(users)), ("assistant", rng.choice(REPLIES))]
            tasks.append({"text": task_prompt(kind, history, rng), "label": "prose", "kind": kind})
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows + tasks)
    return write_text_atomic(out, text)


if __name__ == "__main__":
    print(build())
