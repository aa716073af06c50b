"""The adapter formats Gemmaiku reads and writes, as a table, and format detection.

| format | files | A | B | update |
|---|---|---|---|---|
| peft | adapter_config.json (peft_type) + adapter_model.safetensors | lora_A.weight (r, in) | lora_B.weight (out, r) | (lora_alpha / r) * B @ A |
| mlx | adapter_config.json (lora_parameters) + adapters.safetensors | lora_a (in, r) | lora_b (r, out) | scale * lora_b.T @ lora_a.T |

Adding a format is adding a row: how to recognise its config, its weights file, a reader
returning an :class:`~gemmaiku.fuse.lora.Adapter` and a writer taking one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gemmaiku.errors import GemmaikuError
from gemmaiku.fuse.lora import CONFIG_FILE, Adapter, load_json
from gemmaiku.fuse.mlx_adapter import read_mlx, write_mlx
from gemmaiku.fuse.peft_adapter import read_peft, write_peft


@dataclass(frozen=True)
class AdapterFormat:
    name: str
    weights: str  # the weights file beside adapter_config.json
    describes: Callable[[dict], bool]  # does adapter_config.json look like this format's?
    read: Callable[[Path, dict], Adapter]
    write: Callable[[Adapter, Path, int | None], None]  # (adapter, folder, blocks in the base)


FORMATS: dict[str, AdapterFormat] = {
    "peft": AdapterFormat(
        "peft", "adapter_model.safetensors", lambda c: "peft_type" in c, read_peft, write_peft
    ),
    "mlx": AdapterFormat(
        "mlx",
        "adapters.safetensors",
        lambda c: "lora_parameters" in c or "fine_tune_type" in c,
        read_mlx,
        write_mlx,
    ),
}


def detect_format(path: Path, config: dict) -> AdapterFormat:
    for fmt in FORMATS.values():
        if fmt.describes(config) and (path / fmt.weights).is_file():
            return fmt
    for fmt in FORMATS.values():
        if fmt.describes(config):
            if fmt.name == "peft" and (path / "adapter_model.bin").is_file():
                return fmt  # read_peft explains what to do with a .bin
            raise GemmaikuError(
                f"{path} has a {fmt.name} adapter_config.json but no {fmt.weights} (copy the adapter's weights file beside it)"
            )
    if any((path / fmt.weights).is_file() for fmt in FORMATS.values()):
        raise GemmaikuError(
            f"{path / CONFIG_FILE} is neither peft's (peft_type) nor mlx_lm's (fine_tune_type, "
            "lora_parameters); restore the config the trainer wrote"
        )
    raise GemmaikuError(
        f"{path} is not a LoRA adapter folder (expected adapter_config.json with "
        "adapter_model.safetensors from peft, or adapters.safetensors from mlx_lm)"
    )


def read_adapter(path: str | Path) -> Adapter:
    """Read a peft or mlx_lm adapter folder, refusing what cannot be fused exactly."""
    path = Path(path)
    if not path.is_dir():
        raise GemmaikuError(
            f"no adapter folder at {path} (give the folder with adapter_config.json)"
        )
    config = load_json(path / CONFIG_FILE)
    adapter = detect_format(path, config).read(path, config)
    if not adapter.modules:
        raise GemmaikuError(f"{path} holds no LoRA tensors (nothing to fuse)")
    return adapter
