"""`convert_adapter`: rewrite a LoRA adapter from one format to the other (peft <-> mlx_lm).

The converted adapter fuses to the same weights, bit for bit, as the original: tensors are only
transposed, and where the target format cannot say something the source does (mlx_lm has one
rank and one scale for all modules; peft's scale is lora_alpha / r), the scale is folded into B
so that fusing computes the very same products. Ranks below mlx_lm's single rank are padded with
zero rows, which reading an mlx_lm adapter drops again.
"""

from __future__ import annotations

from pathlib import Path

from gemmaiku.atomic import atomic_dir
from gemmaiku.errors import GemmaikuError
from gemmaiku.fuse.adapters import FORMATS, read_adapter
from gemmaiku.fuse.base import read_base
from gemmaiku.fuse.merge import check_fits


def convert_adapter(
    src: str | Path,
    dst: str | Path,
    to: str,
    *,
    base_dir: str | Path | None = None,
    force: bool = False,
) -> Path:
    """Convert the adapter folder ``src`` to format ``to`` ("peft" or "mlx") at ``dst``.

    With ``base_dir`` the adapter is first checked against that base (as fusing would), and the
    base's block count lets an mlx_lm adapter start past block 0. Returns ``dst``.
    """
    if to not in FORMATS:
        raise GemmaikuError(f"unknown adapter format {to!r} (choose one of {', '.join(FORMATS)})")
    adapter = read_adapter(src)
    total_layers = None
    if base_dir is not None:
        base = read_base(base_dir)
        check_fits(adapter, base)
        total_layers = base.num_layers
    out = Path(dst)
    if out.resolve() == adapter.path.resolve():
        raise GemmaikuError(
            f"the output {out} would overwrite the input adapter; choose another --out"
        )
    if out.exists() and not force:
        raise GemmaikuError(f"{out} already exists (remove it or pass --force)")
    try:
        with atomic_dir(out) as tmp:
            FORMATS[to].write(adapter, tmp, total_layers)
    except OSError as exc:
        raise GemmaikuError(
            f"cannot write the adapter to {out}: {exc.strerror or exc} (choose a writable --out)"
        ) from None
    return out
