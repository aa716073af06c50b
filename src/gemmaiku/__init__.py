"""Gemmaiku: a tiny Gemma 3 that answers everything with a 5-7-5 haiku, run offline.

The pipeline, one subpackage per stage:

    prosody  -> syllables and the 5-7-5 validator (the metric everything rests on)
    data     -> the prompt-to-haiku SFT corpus, its checks and splits
    base     -> dequantize the bundled Gemma 3 270M GGUF into a Hugging Face folder
    train    -> LoRA SFT with peft, loss on completion tokens only
    fuse     -> merge peft or mlx_lm adapters into the base
    export   -> write the fused model as one GGUF (F16 by default)
    modelfile-> parse, render, lint and write Ollama Modelfiles
    runtime  -> llama.cpp generation as a stream of small dataclasses
    serve    -> Ollama- and OpenAI-compatible HTTP server
    router   -> send each query to the haiku model or a prose model
    evaluate -> adversarial suite, temperature sweeps, ablations
    bench    -> throughput and speed benchmarks
"""

__version__ = "0.1.0"
