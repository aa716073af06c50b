"""ensure_base on tiny models: --from a folder or a GGUF, reuse, rebuild, errors, no partial output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gemmaiku.base import ensure_base, read_manifest
from gemmaiku.chat import CHAT_TEMPLATE, render_chat
from gemmaiku.cli import main
from gemmaiku.errors import GemmaikuError


def test_from_a_hf_folder_copies_weights_tokenizer_and_sets_the_template(tiny_gemma_tok_dir, tmp_path):
    import torch
    from safetensors.numpy import load_file
    from transformers import AutoTokenizer

    source = tmp_path / "src"
    shutil.copytree(tiny_gemma_tok_dir, source)
    config = json.loads((source / "tokenizer_config.json").read_text())
    config["chat_template"] = "{{ 'someone else' }}"
    (source / "tokenizer_config.json").write_text(json.dumps(config))
    (source / "chat_template.jinja").unlink()
    from transformers import Gemma3ForCausalLM

    Gemma3ForCausalLM.from_pretrained(source).to(torch.bfloat16).save_pretrained(source)  # bf16 source

    out = ensure_base(source, output=tmp_path / "out", progress=False)
    weights = load_file(out / "model.safetensors")
    assert {str(v.dtype) for v in weights.values()} == {"float32"}
    assert (out / "tokenizer.model").read_bytes() == (source / "tokenizer.model").read_bytes()
    tokenizer = AutoTokenizer.from_pretrained(out)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == render_chat(
        messages, add_generation_prompt=True
    )
    saved = json.loads((out / "tokenizer_config.json").read_text())
    assert saved["chat_template"] == CHAT_TEMPLATE
    assert saved["added_tokens_decoder"] == config["added_tokens_decoder"]
    assert read_manifest(out)["source"]["kind"] == "hf"


def test_reuses_a_complete_folder_and_rebuilds_on_force(tiny_gemma_tok_dir, tmp_path):
    first = ensure_base(tiny_gemma_tok_dir, output=tmp_path / "b", progress=False)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert ensure_base(tiny_gemma_tok_dir, output=tmp_path / "b", progress=False) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    ensure_base(tiny_gemma_tok_dir, output=tmp_path / "b", force=True, progress=False)
    assert (first / "model.safetensors").stat().st_mtime_ns != stamp


def test_the_default_folder_is_per_source(tiny_gemma_tok_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GEMMAIKU_HOME", str(tmp_path / "home"))
    out = ensure_base(tiny_gemma_tok_dir, progress=False)
    assert out.parent == tmp_path / "home" / "base" and out.name.startswith("model-")
    assert (out / "config.json").is_file()


def test_a_failed_build_leaves_nothing(tiny_gemma_tok_dir, tmp_path, monkeypatch):
    import gemmaiku.base.convert as convert

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(convert, "write_from_hf", boom)
    with pytest.raises(KeyboardInterrupt):
        ensure_base(tiny_gemma_tok_dir, output=tmp_path / "b", progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d, src: d / "missing", "no such file or folder"),
        (lambda d, src: (d / "x.bin").write_text("x") and d / "x.bin", "neither a .gguf file"),
        (lambda d, src: (d / "x.gguf").write_text("nope") and d / "x.gguf", "not a GGUF file"),
        (lambda d, src: _edit_config(d, src, model_type="llama", architectures=["LlamaForCausalLM"]), "not a text-only Gemma 3"),
        (lambda d, src: _without(d, src, "tokenizer.model"), "no tokenizer.model"),
        (lambda d, src: _without(d, src, "config.json"), "no config.json"),
    ],
)
def test_bad_sources_give_one_line(tiny_gemma_tok_dir, tmp_path, capsys, make, fragment):
    source = make(tmp_path, tiny_gemma_tok_dir)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["base", "--from", str(source), "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert len(err) == 1 and err[0].startswith("gemmaiku: error: ") and fragment in err[0], err
    assert not out.exists()


def test_api_raises_gemmaiku_error(tmp_path):
    with pytest.raises(GemmaikuError):
        ensure_base(tmp_path / "nothing-here", output=tmp_path / "out", progress=False)


def _edit_config(d: Path, src: Path, **changes) -> Path:
    folder = d / "edited"
    shutil.copytree(src, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _without(d: Path, src: Path, name: str) -> Path:
    folder = d / f"without-{name}"
    shutil.copytree(src, folder)
    (folder / name).unlink()
    return folder
