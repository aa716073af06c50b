"""Local inference on llama.cpp: the Generator interface, engines, prompt formats, options."""

from gemmaiku.runtime.engine import ComputeSlots, Engine
from gemmaiku.runtime.generator import Chunk, Generator, Result, collect, generate
from gemmaiku.runtime.options import GenerationOptions, options_from

__all__ = [
    "Chunk", "ComputeSlots", "Engine", "GenerationOptions", "Generator", "Result", "collect",
    "generate", "options_from",
]
