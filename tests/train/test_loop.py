"""The training loop on the tiny Gemma 3: learns, resumes identically, writes a peft adapter."""

from __future__ import annotations

import json

import pytest

from gemmaiku.errors import GemmaikuError
from gemmaiku.train.config import TrainConfig
from gemmaiku.train.loop import lr_lambda, train

pytestmark = pytest.mark.slow


def _config(corpus, base, out, **overrides) -> TrainConfig:
    settings = dict(
        rank=4, alpha=8, dropout=0.1, lr=5e-3, warmup_steps=2, max_steps=6, batch_size=2,
        grad_accum=2, max_length=128, seed=3, eval_interval=3, save_interval=2,
    )  # fmt: skip
    return TrainConfig(data=str(corpus), base=str(base), out=str(out), **{**settings, **overrides})


def _metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _adapter(out):
    from safetensors.torch import load_file

    return load_file(out / "adapter_model.safetensors")


def test_a_few_steps_reduce_the_loss_on_a_tiny_set(tiny_corpus, chat_model_dir, tmp_path):
    config = _config(
        tiny_corpus,
        chat_model_dir,
        tmp_path / "run",
        max_steps=25,
        lr=2e-2,
        dropout=0.0,
        grad_accum=1,
        batch_size=4,
    )
    result = train(config)
    losses = [m["loss"] for m in _metrics(tmp_path / "run")]
    assert len(losses) == 25
    assert losses[-1] < 0.6 * losses[0]
    assert result["result"]["final_val_loss"] is not None
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(
    tiny_corpus, chat_model_dir, tmp_path
):
    import torch

    straight = tmp_path / "straight"
    train(_config(tiny_corpus, chat_model_dir, straight))

    broken = tmp_path / "broken"

    def interrupt(step, loss):
        if step == 3:
            raise KeyboardInterrupt  # what Ctrl-C does between steps

    with pytest.raises(KeyboardInterrupt):
        train(_config(tiny_corpus, chat_model_dir, broken), on_step=interrupt)
    state = json.loads((broken / "checkpoint" / "state.json").read_text())
    assert state["progress"]["step"] == 3
    assert not (broken / "adapter_model.safetensors").exists()
    with pytest.raises(GemmaikuError, match="--resume"):
        train(_config(tiny_corpus, chat_model_dir, broken))
    with pytest.raises(GemmaikuError, match="different settings"):
        train(_config(tiny_corpus, chat_model_dir, broken, lr=1e-3), resume=True)
    train(_config(tiny_corpus, chat_model_dir, broken), resume=True)

    a, b = _adapter(straight), _adapter(broken)
    assert a.keys() == b.keys() and a
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    strip = ("tokens_per_s", "elapsed_s")
    assert [{k: v for k, v in m.items() if k not in strip} for m in _metrics(straight)] == [
        {k: v for k, v in m.items() if k not in strip} for m in _metrics(broken)
    ]


def test_output_is_a_peft_adapter_that_loads_and_changes_the_model(
    tiny_corpus, chat_model_dir, tmp_path
):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "run"
    result = train(
        _config(tiny_corpus, chat_model_dir, out, max_steps=3, target_modules=("q_proj", "v_proj"))
    )
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["lora_alpha"] == 8
    assert sorted(config["target_modules"]) == ["q_proj", "v_proj"]
    args = json.loads((out / "training_args.json").read_text())
    assert args["result"]["steps"] == 3 and args["rank"] == 4 == result["rank"]

    base = AutoModelForCausalLM.from_pretrained(chat_model_dir, dtype=torch.float32)
    ids = torch.tensor([[2, 4, 30, 31, 32, 5, 4]])
    plain = base(input_ids=ids).logits
    model = PeftModel.from_pretrained(base, out).eval()
    adapted = model(input_ids=ids).logits
    assert not torch.allclose(plain, adapted)  # the adapter changes the model
    saved = _adapter(out)
    assert any(".lora_B." in k for k in saved) and all(
        k.startswith("base_model.model.") for k in saved
    )


def test_bad_target_module_is_one_clear_error(tiny_corpus, chat_model_dir, tmp_path):
    with pytest.raises(GemmaikuError, match="target modules not in the model: qq_proj"):
        train(_config(tiny_corpus, chat_model_dir, tmp_path / "run", target_modules=("qq_proj",)))


@pytest.mark.parametrize("schedule", ["cosine", "linear", "constant"])
def test_schedules_warm_up_then_decay(schedule):
    factor = lr_lambda(schedule, warmup=4, total=20)
    assert factor(0) < factor(3) <= 1.0
    assert factor(4) == pytest.approx(1.0)
    assert factor(19) <= factor(10) <= 1.0
    if schedule != "constant":
        assert factor(20) == pytest.approx(0.0)


def test_cli_trains_and_prints_json(tiny_corpus, chat_model_dir, tmp_path):
    from click.testing import CliRunner

    from gemmaiku.cli import cli

    out = tmp_path / "cli-run"
    args = ["train", "--data", str(tiny_corpus), "--base", str(chat_model_dir), "--out", str(out), "--max-steps", "2",
            "--rank", "2", "--batch-size", "2", "--target-modules", "q_proj,o_proj", "--json"]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    assert summary["result"]["steps"] == 2 and summary["target_modules"] == ["q_proj", "o_proj"]
    assert (out / "adapter_model.safetensors").is_file()


def test_init_adapter_warm_starts_from_a_saved_adapter(tiny_corpus, chat_model_dir, tmp_path):
    import torch

    first = tmp_path / "first"
    train(_config(tiny_corpus, chat_model_dir, first, max_steps=2))
    second = tmp_path / "second"  # lr 0: the weights stay exactly the loaded ones
    train(
        _config(tiny_corpus, chat_model_dir, second, max_steps=1, lr=0.0, init_adapter=str(first))
    )
    a, b = _adapter(first), _adapter(second)
    assert any(v.abs().sum() > 0 for k, v in a.items() if "lora_B" in k)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    with pytest.raises(GemmaikuError, match="does not match this LoRA shape"):
        train(
            _config(
                tiny_corpus, chat_model_dir, tmp_path / "third", rank=2, init_adapter=str(first)
            )
        )
