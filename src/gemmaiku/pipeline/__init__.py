"""The whole job: base -> adapter (shipped, or trained) -> fuse -> GGUF -> Modelfile -> check.

``run_pipeline()`` is what ``gemmaiku pipeline`` (the README's main job) runs. Each step skips
work whose inputs have not changed since the last run (recorded in ``pipeline.json`` in the
output folder), so a second run takes seconds.
"""

from gemmaiku.pipeline.run import SHIPPED_ADAPTER, Artifacts, run_pipeline

__all__ = ["SHIPPED_ADAPTER", "Artifacts", "run_pipeline"]
