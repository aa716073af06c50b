"""Evaluation: does the 5-7-5 form hold under adversarial prompts, higher temperatures, long
conversations, quantization and without a system prompt (`gemmaiku eval ...`).

Targets (a GGUF in process, an Ollama URL, an OpenAI URL) share one interface
(:mod:`gemmaiku.evaluate.targets`); every reply is judged by :func:`gemmaiku.prosody.check_haiku`;
reports are folders of JSON, Markdown and PNG (:mod:`gemmaiku.evaluate.report`).
"""

from gemmaiku.evaluate.scoring import Rate, Sample, summarize, wilson
from gemmaiku.evaluate.targets import Reply, open_target, parse_target

__all__ = ["Rate", "Reply", "Sample", "open_target", "parse_target", "summarize", "wilson"]
