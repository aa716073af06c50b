"""Fuse LoRA adapters (peft or mlx_lm) into a Gemma 3 base, and convert between the two formats."""

from gemmaiku.fuse.adapters import FORMATS, read_adapter
from gemmaiku.fuse.convert import convert_adapter
from gemmaiku.fuse.lora import Adapter, LoraModule
from gemmaiku.fuse.merge import fuse_adapter

__all__ = ["FORMATS", "Adapter", "LoraModule", "convert_adapter", "fuse_adapter", "read_adapter"]
