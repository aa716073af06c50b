"""Local inference on llama.cpp: engines, prompt formats, options, streamed chunks."""

from gemmaiku.runtime.engine import Chunk, ComputeSlots, Engine, Result
from gemmaiku.runtime.options import GenerationOptions, options_from

__all__ = ["Chunk", "ComputeSlots", "Engine", "GenerationOptions", "Result", "options_from"]
